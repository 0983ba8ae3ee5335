// Pins the upstream modules whose Helm charts the installer and `check`'s
// chart-key rule use offline. Nothing here is built: .ci/fetch-charts
// downloads each module at the pinned version into the Go module cache and
// infraflux_stack::charts finds the chart directory inside it, so no
// upstream chart is ever copied into this repository.
// Chart directories inside the modules:
//   cilium          install/kubernetes/cilium   (chart version = module version)
//   cert-manager    deploy/charts/cert-manager  (Chart.yaml says v0.0.0; the
//                                                module version is the chart's)
//   external-dns    charts/external-dns         (chart 1.N ships app 0.N)
//   sealed-secrets  helm/sealed-secrets         (chart 2.x ships app 0.x)
module infraflux.local/tools/charts

go 1.24

require (
	github.com/bitnami-labs/sealed-secrets v0.40.0
	github.com/cert-manager/cert-manager v1.21.2
	github.com/cilium/cilium v1.20.2
	sigs.k8s.io/external-dns v0.23.0
)
