/**
 * Polls `check` until it holds, bounded in time. A check that throws, at once or later (a host's set
 * not made yet, a server not listening yet), counts as not yet.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 20_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  await waitForValue(what, async () => ((await check()) ? true : undefined), { timeoutMs, everyMs });
}

/** Polls `check` until it gives a value (not `undefined`), bounded in time; throws count as not yet. */
export async function waitForValue<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = 20_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(check)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
