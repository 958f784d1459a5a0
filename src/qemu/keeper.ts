/**
 * The supervisor of a guest that may be kept after its run (`kvmci run --keep`). QEMU runs
 * under it, in a session of its own, so that it can outlive kvmci; and yet a kept guest never
 * lives for ever:
 * - kvmci holds the keeper's stdin. If that ends before kvmci said `keep UNTIL` (kvmci was
 *   killed, even with SIGKILL, or the run ended without keeping), the keeper stops QEMU.
 * - Once kept, it stops QEMU at UNTIL (seconds since the epoch), whoever is still around.
 * - QEMU gets the keeper's death as its own parent-death signal (setpriv), so killing the keeper
 *   ends QEMU too.
 * Arguments: the QEMU command line. QEMU's stderr goes where the keeper's does.
 */
export const keeperScript = `#!/bin/sh
set -u
if command -v setpriv >/dev/null 2>&1; then setpriv --pdeathsig KILL -- "$@" & else "$@" & fi
qemu=$!
stop() {
  kill -TERM "$qemu" 2>/dev/null
  i=0
  while kill -0 "$qemu" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$qemu" 2>/dev/null
}
trap 'stop; wait "$qemu"; exit 143' TERM INT HUP
until=""
# The run ends, or kvmci dies: either way stdin ends.
while read -r word value; do
  if [ "$word" = keep ]; then until=$value; fi
done
if [ -z "$until" ]; then stop; wait "$qemu"; exit $?; fi
while kill -0 "$qemu" 2>/dev/null && [ "$(date +%s)" -lt "$until" ]; do sleep 2; done
stop
wait "$qemu"
`;

/** What kvmci tells the keeper to keep the guest until `untilMs` (epoch ms). Pure. */
export function keepLine(untilMs: number): string {
  return `keep ${Math.ceil(untilMs / 1000)}\n`;
}
