# Sourced: sets KVS_EDGE_CACHE, the folder outside the checkout where sysroots, root filesystems
# and downloaded runtimes are kept between runs.
if [ -z "${KVS_EDGE_CACHE:-}" ]; then
  if mkdir -p /var/cache/kvs-edge 2>/dev/null && [ -w /var/cache/kvs-edge ]; then
    KVS_EDGE_CACHE=/var/cache/kvs-edge
  else
    KVS_EDGE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kvs-edge"
  fi
fi
mkdir -p "$KVS_EDGE_CACHE"
export KVS_EDGE_CACHE
