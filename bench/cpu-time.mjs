// Process CPU time (user + system) per request, the figure the benchmarks compare: steadier than
// requests per second on a shared machine.

/** Runs `one(pipeline)` `n` times; returns the process CPU µs per run. */
export async function cpuPerRequest(one, pipeline, n) {
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) await one(pipeline)
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / n
}
