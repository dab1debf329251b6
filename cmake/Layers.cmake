# lastcall's layers: one folder of src/ each, one CMake library each (lastcall_<layer>), and the
# layers each may use. This table is the one place the arrows are decided: CMakeLists.txt links the
# libraries from it, and cmake/CheckLayers.cmake fails the build when a file includes a header of
# a layer its own layer may not use. A layer may always use itself. docs/architecture.md draws it.
#
# Listed bottom to top: a layer may only use layers listed before it, so no arrow runs back up.
set(LASTCALL_LAYERS
  base       # text, durations, sizes, URLs, the clock, signals, subprocesses, files, log lines,
             # the kernel's socket tables: plain types and tools that know nothing of lastcall
  tls        # BearSSL's glue: PEM, trust anchors, a server's identity (docs/architecture.md)
  http       # lastcall's own HTTP/1.1 server and client (docs/http.md)
  config     # the config struct, its keys, YAML/flag/env loading, the timing budget
  cli        # the command line's framework: the Subcommand type and the parser
  monitors   # drain monitors and what they read: the kernel's traffic, the app's endpoints
  sequence   # the shutdown sequence (PRODUCT.md §2): readiness, the LB wait, drain, exit delay
  kubeapi    # the in-cluster Kubernetes API client: its configuration, requests, Events, slices
  sidecar    # `lastcall run`: the coordinator, the probe and control services, metrics, state
  prestop    # `lastcall prestop`: the client that runs in the app's container
  kube       # wing: `lastcall inject`, `uninject`, `install` (manifest tooling)
  rehearse   # wing: `lastcall rehearse` (the local termination simulator)
  webhook    # wing: `lastcall webhook`, the mutating admission webhook (docs/webhook.md)
)
set(LASTCALL_LAYER_USES_base "")
set(LASTCALL_LAYER_USES_tls base)
set(LASTCALL_LAYER_USES_http base)
set(LASTCALL_LAYER_USES_config base)
set(LASTCALL_LAYER_USES_cli base config)
set(LASTCALL_LAYER_USES_monitors base http config)
set(LASTCALL_LAYER_USES_sequence base http config monitors)
set(LASTCALL_LAYER_USES_kubeapi base tls http)
set(LASTCALL_LAYER_USES_sidecar base tls http config cli monitors sequence kubeapi)
set(LASTCALL_LAYER_USES_prestop base http config cli)
set(LASTCALL_LAYER_USES_kube base http config cli)
set(LASTCALL_LAYER_USES_rehearse base http config cli sequence)
set(LASTCALL_LAYER_USES_webhook base tls http config cli kube)
set(LASTCALL_WINGS kube rehearse webhook)
set(LASTCALL_CORE_LAYERS ${LASTCALL_LAYERS})
list(REMOVE_ITEM LASTCALL_CORE_LAYERS ${LASTCALL_WINGS})
