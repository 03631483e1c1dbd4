/**
 * The admin API as handlers (request in, response out), independent of the listener carrying them:
 *
 *   GET  /v1/server                      version, uptime, listening addresses, ports, totals
 *   GET  /v1/clients[/<id>]              connected clients: protocol, address, app, bytes, since
 *   GET  /v1/publications[/<name>]       publications: app, codecs, bit rates, listeners, QoS
 *   GET  /v1/apps                        application folders of www/ with their clients
 *   GET  /v1/servers                     servers of the cluster (none: clustering is not built yet)
 *   POST /v1/clients/<id>/kick           disconnects a client
 *   POST /v1/publications/<name>/close   ends a publication (its publisher gets a status)
 *   GET  /metrics                        Prometheus text format
 *   GET  /                               the dashboard (and its script and player under /assets/)
 *
 * Publication names may hold "/" and any character: they are URL-encoded in the path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appName } from '../core/access-log';
import type { Config } from '../config/types';
import type { ServerContext } from '../core/context';
import { checkAccess } from './auth';
import { DASHBOARD_HTML, DASHBOARD_SCRIPT } from './dashboard';
import { failure, json, text, type AdminHandler, type AdminRequest, type AdminResponse } from './http';
import { collectMetrics } from './metrics';
import type { ProcessSnapshot } from './process-monitor';
import { encodePrometheus, PROMETHEUS_CONTENT_TYPE } from './prometheus';
import { clientViews, publicationView } from './views';

/** What the API reads from the running server. */
export interface AdminSource {
  readonly context: ServerContext;
  /** protocols listening now, with the banner's addresses */
  listening(): Array<{ protocol: string; addresses: string[] }>;
  /** the ini that was looked for and whether it was there */
  readonly configFile: { path: string; found: boolean };
  processSnapshot(): ProcessSnapshot;
}

/** How deep and how many app folders /v1/apps walks (www/ may hold big static trees). */
const APPS_MAX = 1000;
const APPS_DEPTH = 12;
const SCRIPT_NAMES = ['main.lua', 'main.js', 'main.ts'];

export interface AppView {
  path: string;
  /** main.lua / main.js / main.ts found in the folder */
  scripts: string[];
  clients: number;
}

/** The app folders under www/ (each folder is an app), breadth first, bounded. */
export function listApps(wwwDir: string, clientsByApp: Map<string, number>): { apps: AppView[]; truncated: boolean } {
  const apps: AppView[] = [];
  const queue: Array<{ dir: string; app: string; depth: number }> = [{ dir: wwwDir, app: '', depth: 0 }];
  let truncated = false;
  while (queue.length) {
    const { dir, app, depth } = queue.shift()!;
    if (apps.length >= APPS_MAX) {
      truncated = true;
      break;
    }
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    const scripts = SCRIPT_NAMES.filter((n) => entries.some((e) => e.isFile() && e.name === n));
    apps.push({ path: appName(app), scripts, clients: clientsByApp.get(app) ?? 0 });
    if (depth >= APPS_DEPTH) continue;
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith('.')) queue.push({ dir: path.join(dir, e.name), app: `${app}/${e.name}`, depth: depth + 1 });
    }
  }
  return { apps, truncated };
}

function ports(config: Config): Record<string, number> {
  return {
    rtmfp: config.rtmfp.port, rtmp: config.rtmp.port, http: config.http.port, rtsp: config.rtsp.port,
    servers: config.servers.port, admin: config.admin.port,
  };
}

/** mpegts.js (the dashboard's player), read once from its npm package. */
let player: Promise<Buffer> | null = null;
function playerScript(): Promise<Buffer> {
  if (!player) {
    player = fs.promises.readFile(require.resolve('mpegts.js/dist/mpegts.js'));
    player.catch(() => (player = null));
  }
  return player;
}

export function createAdminHandler(source: AdminSource): AdminHandler {
  const { context } = source;

  const server = (): AdminResponse => {
    const now = Date.now();
    const totals: Record<string, unknown> = {};
    for (const [protocol, t] of context.access.protocols()) totals[protocol] = { ...t };
    let running = 0;
    for (const p of context.publications) if (p.running) running++;
    return json(200, {
      product: 'monats',
      version: context.version,
      node: process.version,
      pid: process.pid,
      startedAt: new Date(context.startTime).toISOString(),
      uptime: (now - context.startTime) / 1000,
      applicationDir: context.config.application.dir,
      configuration: source.configFile.found ? source.configFile.path : null,
      listening: source.listening(),
      ports: ports(context.config),
      clients: context.clients.size,
      publications: running,
      totals,
      memory: { rss: source.processSnapshot().rss },
    });
  };

  /** the servers of the cluster linked to this one (context.servers) */
  const servers = (): AdminResponse =>
    json(
      200,
      context.servers.all().map((s) => ({
        address: s.address,
        isTarget: s.isTarget,
        host: s.host,
        properties: s.properties,
        ports: { rtmfp: s.protocolPort('RTMFP'), rtmp: s.protocolPort('RTMP'), http: s.protocolPort('HTTP') },
        queuedBytes: s.queuedBytes(),
      })),
    );

  const clients = (id?: string): AdminResponse => {
    const all = clientViews(context.clients, context.publications);
    if (id === undefined) return json(200, all);
    const one = all.find((c) => c.id === id.toLowerCase());
    return one ? json(200, one) : failure(404, `no client ${id}`);
  };

  const publications = (name?: string): AdminResponse => {
    const now = Date.now();
    if (name === undefined) return json(200, [...context.publications].map((p) => publicationView(p, context.access, now)));
    const pub = context.publications.get(name);
    return pub ? json(200, publicationView(pub, context.access, now)) : failure(404, `no publication ${name}`);
  };

  const apps = (): AdminResponse => {
    const byApp = new Map<string, number>();
    for (const c of context.clients) byApp.set(c.path, (byApp.get(c.path) ?? 0) + 1);
    const r = listApps(context.wwwDir, byApp);
    return json(200, r.truncated ? { apps: r.apps, truncated: true } : r.apps);
  };

  const kick = (id: string): AdminResponse => {
    const client = context.clients.get(id);
    if (!client) return failure(404, `no client ${id}`);
    context.logger.info('Admin', `kicking ${client.protocol} ${client.address} (client ${client.id})`, {
      event: 'kick', protocol: client.protocol, address: client.address, client: client.id,
    });
    client.close('kicked by the administrator');
    return json(200, { kicked: client.id });
  };

  const close = (name: string): AdminResponse => {
    const pub = context.publications.get(name);
    if (!pub || !pub.running) return failure(404, `no publication ${name} is being published`);
    context.logger.info('Admin', `closing publication ${name}`, { event: 'close', stream: name });
    // as a script's publication:close(code, description): the publisher is told (on its NetStream
    // when it has one, which then stops feeding), then unpublished
    const description = `${name} closed by the administrator`;
    if (pub.source) pub.source.closePublication('NetStream.Unpublish.Success', description);
    else {
      pub.publisher?.writer.writeStatusResponse('NetStream.Unpublish.Success', description);
      pub.publisher?.writer.flush();
    }
    context.publications.unpublish(pub);
    return json(200, { closed: name });
  };

  const metrics = (): AdminResponse => {
    const families = collectMetrics({
      version: context.version,
      startTime: context.startTime,
      now: Date.now(),
      clients: context.clients,
      publications: context.publications,
      totals: context.access.protocols(),
      droppedFramesGone: context.access.droppedFramesGone,
      process: source.processSnapshot(),
    });
    return text(200, encodePrometheus(families), PROMETHEUS_CONTENT_TYPE);
  };

  return async (request: AdminRequest): Promise<AdminResponse> => {
    const refused = checkAccess(request, context.config.admin.password);
    if (refused) return refused;
    const { method } = request;
    const segments = request.path.split('/').slice(1);
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      return failure(400, 'malformed percent-encoding in the path');
    }
    const get = method === 'GET' || method === 'HEAD';
    const only = (allowed: string, run: () => AdminResponse | Promise<AdminResponse>) =>
      (allowed === 'GET' ? get : method === allowed) ? run() : failure(405, `${method} not allowed here`, { Allow: allowed === 'GET' ? 'GET, HEAD' : allowed });

    if (request.path === '/' || request.path === '/index.html') return only('GET', () => text(200, DASHBOARD_HTML, 'text/html; charset=utf-8'));
    if (request.path === '/assets/dashboard.js') return only('GET', () => text(200, DASHBOARD_SCRIPT, 'text/javascript; charset=utf-8'));
    if (request.path === '/assets/mpegts.js')
      return only('GET', async () => ({
        status: 200,
        headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'max-age=86400' },
        body: await playerScript(),
      }));
    if (request.path === '/metrics') return only('GET', metrics);
    if (decoded[0] !== 'v1') return failure(404, `${request.path} not found`);

    const [, what, id, action] = decoded;
    const n = decoded.length;
    switch (what) {
      case 'server':
        if (n === 2) return only('GET', server);
        break;
      case 'servers':
        if (n === 2) return only('GET', servers);
        break;
      case 'apps':
        if (n === 2) return only('GET', apps);
        break;
      case 'clients':
        if (n === 2) return only('GET', () => clients());
        if (n === 3) return only('GET', () => clients(id));
        if (n === 4 && action === 'kick') return only('POST', () => kick(id));
        break;
      case 'publications':
        if (n === 2) return only('GET', () => publications());
        if (n === 3) return only('GET', () => publications(id));
        if (n === 4 && action === 'close') return only('POST', () => close(id));
        break;
    }
    return failure(404, `${request.path} not found`);
  };
}
