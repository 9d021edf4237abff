/** A byte-recording TCP relay, to see exactly what a client library received. */
import net from 'node:net';

export interface Tap {
  readonly port: number;
  /** Bytes the target sent towards the client, per connection, in order of connection. */
  fromServer(): Buffer[];
  close(): Promise<void>;
}

export function startTap(targetPort: number): Promise<Tap> {
  const recorded: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const chunks: Buffer[] = [];
    recorded.push(chunks);
    const up = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(up);
    up.on('data', (d: Buffer) => chunks.push(d));
    client.pipe(up);
    up.pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        fromServer: () => recorded.map((c) => Buffer.concat(c)),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
