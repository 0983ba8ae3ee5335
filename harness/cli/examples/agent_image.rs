//! Packages a built agent binary as an OCI archive and prints the image's
//! digest, reference and size as JSON. Used by `.ci/build-agent-image`.
//!
//! `cargo run -p infraflux --example agent_image -- BINARY OUT.tar [REFERENCE]`

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (binary, out) = match (args.first(), args.get(1)) {
        (Some(b), Some(o)) if args.len() <= 3 => (b, o),
        _ => {
            eprintln!("usage: agent_image BINARY OUT.tar [REFERENCE]");
            return ExitCode::from(2);
        }
    };
    let reference = args
        .get(2)
        .cloned()
        .unwrap_or_else(infraflux::image::default_reference);
    match infraflux::image::build_agent_archive(Path::new(binary), Path::new(out), &reference) {
        Ok(info) => match serde_json::to_string(&info) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: failed to encode image info: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
