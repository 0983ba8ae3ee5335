fn main() {
    std::process::exit(infraflux::exit::Status::BadInput.code());
}
