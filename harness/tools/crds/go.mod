// Pins the upstream modules whose CRDs the integration tier installs into the
// real API server. Nothing here is built: .ci/fetch-crds downloads each module
// at the pinned version into the Go module cache and the tests read the CRD
// files from there, so no upstream CRD is ever copied into this repository.
// Keep these in step with the versions in harness/model/assets/default-profile.yaml
// (cert-manager matches; the Flux controllers are those of Flux 2.7, whose
// v1/v2 APIs are the ones Flux 2.8 serves too).
module infraflux.local/tools/crds

go 1.24

require (
	github.com/bitnami-labs/sealed-secrets v0.32.2
	github.com/cert-manager/cert-manager v1.20.0
	github.com/cilium/cilium v1.18.6
	github.com/fluxcd/helm-controller v1.4.3
	github.com/fluxcd/kustomize-controller v1.7.3
	github.com/fluxcd/source-controller v1.7.3
	sigs.k8s.io/gateway-api v1.3.0
)
