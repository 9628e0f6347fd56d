/**
 * `serve` flags: route and service names of requests (`--route`, `--service`), so that Higress
 * `matchRules` (`ingress`, `service`) and Kong route and service chains can be tried.
 * @module
 */
import { usageError, type FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--route`, `--service`. @internal */
export const routeFlags: FlagGroup<ServeOptions> = {
  title: 'Routes',
  flags: {
    route: {
      type: 'string',
      value: '<name[=/prefix]>',
      multiple: true,
      help: 'route name (property route_name, Higress ingress rules, Kong\nroute chains) of requests whose path starts with /prefix (the\nlongest prefix wins); without =/prefix, of every other request',
    },
    service: {
      type: 'string',
      value: '<name[:port]>',
      help: 'service of every request (property cluster_name as\noutbound|port||name, Higress service rules, Kong service chains)',
    },
  },
  apply(args, opts) {
    const routes: NonNullable<ServeOptions['routes']> = []
    for (const r of args.list('route')) {
      const eq = r.indexOf('=')
      const name = eq < 0 ? r : r.slice(0, eq)
      const prefix = eq < 0 ? '' : r.slice(eq + 1)
      if (!name) throw usageError(`--route ${r}: the route needs a name before "="`, 'serve')
      if (eq >= 0 && !prefix.startsWith('/')) throw usageError(`--route ${r}: the prefix after "=" must start with /, e.g. --route api=/api`, 'serve')
      if (routes.some((x) => x.prefix === prefix)) throw usageError(`--route ${r}: another --route has the same ${prefix ? `prefix ${prefix}` : 'default (no prefix)'}`, 'serve')
      routes.push({ name, prefix })
    }
    if (routes.length) opts.routes = routes.sort((a, b) => b.prefix.length - a.prefix.length)
    const service = args.string('service')
    if (service !== undefined) {
      if (!service) throw usageError('--service needs a name', 'serve')
      opts.service = service
    }
  },
}
