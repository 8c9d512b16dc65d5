/** Returns the message of a thrown value without a trailing full stop, for use inside a sentence. */
export function errorReason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim().replace(/\.+$/, '');
}
