/**
 * Text with the user name and password of every URL in it replaced by `***`: an image URL may
 * carry credentials (https://user:token@host/disk.qcow2#sha256=…), and everything kvmci shows
 * or writes (log lines, errors, the JSON report, the job summary) goes through this. Pure.
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi, "$1***@");
}
