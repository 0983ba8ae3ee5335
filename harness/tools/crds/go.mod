// Pins the upstream modules whose CRDs the integration tier installs into the
// real API server. Nothing here is built: .ci/fetch-crds downloads each module
// at the pinned version into the Go module cache and the tests read the CRD
// files from there, so no upstream CRD is ever copied into this repository.
// Each pin is the newest release of the line people run (Dec 2026): Cilium
// 1.20, Gateway API 1.6, cert-manager 1.21, sealed-secrets 0.40; the CRDs of
// the newest line are a superset of what the default profile's versions use,
// and `check`'s deprecation rules are judged against them. The Flux
// controllers are those Flux 2.9 ships (flux2 v2.9.5 manifests/bases and
// go.mod: helm-controller 1.6.4, kustomize- and source-controller 1.9.5);
// they serve only the stable v1/v2 APIs, which Flux 2.7 and 2.8 serve too.
module infraflux.local/tools/crds

go 1.24

require (
	github.com/bitnami-labs/sealed-secrets v0.40.0
	github.com/cert-manager/cert-manager v1.21.2
	github.com/cilium/cilium v1.20.2
	github.com/fluxcd/helm-controller v1.6.4
	github.com/fluxcd/kustomize-controller v1.9.5
	github.com/fluxcd/source-controller v1.9.5
	sigs.k8s.io/gateway-api v1.6.3
)
