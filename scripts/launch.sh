#!/usr/bin/env bash
# Starts K local processes of one command for data-parallel training, as torchrun does: each
# gets RANK, LOCAL_RANK (0..K-1), WORLD_SIZE and LOCAL_WORLD_SIZE (K), MASTER_ADDR (127.0.0.1)
# and MASTER_PORT. The processes rendezvous through c10d's TCPStore on that port (rank 0 serves
# it) and share the machine's cores (run.threads 0 gives each cores / K threads). Ctrl-C and
# SIGTERM are passed on to every rank. Exits with the first non-zero exit code of a rank, else 0;
# a rank that dies makes the others fail at their next collective (or after
# run.dist_timeout_seconds when it hangs), so the launch never waits forever on a lost rank.
#   scripts/launch.sh -n K [--port P] -- COMMAND [ARGS...]
#   e.g. scripts/launch.sh -n 2 -- build/infalign-train --config configs/default/ctrl_bon4.yaml
set -uo pipefail

usage() {
  echo "usage: scripts/launch.sh -n K [--port P] -- COMMAND [ARGS...]" >&2
  exit 2
}
n=""
port=${MASTER_PORT:-}
while (($#)); do
  case "$1" in
    -n | --nproc) n=${2:-}; shift 2 || usage ;;
    --port) port=${2:-}; shift 2 || usage ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
(($# > 0)) || usage
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "launch.sh: -n needs a positive integer, got '$n'" >&2; exit 2; }
if [[ -z "$port" ]]; then
  # A free port: ask the kernel for one (bind to port 0) where python3 exists, else pick one.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((29500 + RANDOM % 2000)))
fi

pids=()
forward() { ((${#pids[@]} == 0)) || kill -s "$1" "${pids[@]}" 2>/dev/null; }
trap 'forward INT' INT
trap 'forward TERM' TERM
# Each rank in its own process group (job control): a Ctrl-C or a signal to launch.sh's group
# reaches the ranks once, through forward(), not twice (a second signal makes a rank quit
# without saving).
set -m
for ((rank = 0; rank < n; rank++)); do
  RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=$n LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=$port "$@" &
  pids+=($!)
done

status=0
for ((rank = 0; rank < n; rank++)); do
  # `wait` returns early when a trapped signal arrives: wait again until the rank has exited.
  while kill -0 "${pids[$rank]}" 2>/dev/null; do wait "${pids[$rank]}"; done
  wait "${pids[$rank]}"
  code=$?
  if ((code != 0)); then
    echo "launch.sh: rank $rank exited with code $code" >&2
    ((status == 0)) && status=$code
  fi
done
exit "$status"
