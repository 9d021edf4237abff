/** What --help prints: the contract, failover, every flag beside its variable, exit codes. */
const CONTRACT_AND_FAILOVER = `
USAGE
  redis-ambassador                       listeners from the environment (Docker links)
  redis-ambassador --listen [NAME:]PORT --upstream tcp://HOST:PORT [...]

THE CONTRACT (same as svendowideit/ambassador)
  Every environment variable  <NAME>_PORT_<p>_TCP=tcp://<host>:<port>  makes a listener on
  port <p> (all interfaces, IPv4 and IPv6) that forwards to <host>:<port>. Docker's --link
  sets these variables; -e sets them by hand:
    REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379   listen on 6379 as "redis:6379", forward to 10.0.0.5:6379
  Several variables make several listeners. <NAME>_PORT_<p>_TCP_ADDR/_PORT/_PROTO, <NAME>_PORT and
  <NAME>_NAME are ignored. Variables containing _ENV_ (a linked container's copied environment)
  are ignored when a direct variable defines the same port. Unlike socat, a port defined twice
  with different targets, a bad port, an empty host or no listener at all stop the start with
  exit code 2 and a message naming the variable.

FAILOVER (values socat never accepted, so nothing that worked with socat changes meaning)
  REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379,tcp://10.0.0.6:6379
      candidates in order; traffic goes to the one whose ROLE is master (never promotes anything)
  REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379
      ask these sentinels for master "mymaster" and follow +switch-master (replaces the _TCP value)
  REDIS_PORT_7000_CLUSTER=10.0.0.7:7000,10.0.0.8:7000
      a Redis Cluster: 7000 is its entry, every node gets a listener of its own from the 64 ports
      above it (REDIS_PORT_7000_CLUSTER_PORTS=from-to), and replies naming nodes (-MOVED, -ASK,
      CLUSTER SLOTS/SHARDS/NODES, ROLE, INFO) name those listeners instead
  When the upstream connection drops or the master moves, clients stay connected: commands in
  flight get "-ERR upstream connection lost; command may or may not have run" (never retried),
  the next ones go to the new master after AUTH/HELLO/SELECT/CLIENT SETNAME/READONLY and
  subscriptions are replayed (a refused replay closes the client). A MULTI or WATCH spanning the
  loss ends in -EXECABORT. A close Redis meant (CLIENT KILL, timeout, output-buffer limit: the
  same server still answers) closes the client too; SYNC/PSYNC streams are relayed as raw bytes.

`;

const FLAGS = `FLAGS (each overrides the environment variable named beside it)
  --listen [NAME:]PORT        listen on PORT; NAME (default "redis") names it in metrics and logs
  --upstream URL              where the preceding --listen forwards: tcp://HOST:PORT, a candidate
                              list tcp://A:P,tcp://B:P, or sentinel://NAME@HOST:PORT[,HOST:PORT];
                              with any --listen the environment's *_PORT_*_TCP variables are not used
  --admin HOST:PORT|off       admin HTTP (/metrics, /healthz, /readyz,  AMBASSADOR_ADMIN_ADDR  [0.0.0.0:9736]
                              /slowlog, /hotkeys)
  --bind HOST                 address the listeners bind               AMBASSADOR_BIND        [:: and 0.0.0.0]
  --log-level LEVEL           debug | info | warn | error               AMBASSADOR_LOG_LEVEL   [info]
  --no-metrics                do not count commands                     AMBASSADOR_METRICS=off [on]
  --connect-timeout MS        one upstream connect attempt              AMBASSADOR_CONNECT_TIMEOUT_MS  [2000]
  --connect-window MS         retry an unreachable upstream this long   AMBASSADOR_CONNECT_WINDOW_MS   [5000]
                              before answering -ERR and closing
  --shutdown-timeout MS       on SIGTERM, wait this long for replies    AMBASSADOR_SHUTDOWN_TIMEOUT_MS [5000]
  --max-pending N             commands in flight per client before      AMBASSADOR_MAX_PENDING_COMMANDS [100000]
                              its reading pauses
  --health-interval MS        PING each upstream this often             AMBASSADOR_HEALTH_INTERVAL_MS  [1000]
  --health-timeout MS         a PING unanswered this long fails         AMBASSADOR_HEALTH_TIMEOUT_MS   [1000]
  --health-failures N         failed PINGs in a row before "down"       AMBASSADOR_HEALTH_FAILURES     [2]
  --on-upstream-loss MODE     reconnect (keep clients) | close (socat)  AMBASSADOR_ON_UPSTREAM_LOSS    [reconnect]
  --unavailable-wait MS       commands wait this long for an upstream   AMBASSADOR_UNAVAILABLE_WAIT_MS [5000]
                              after a loss, then get -ERR
  --upstream-mode MODE        dedicated (a connection per client) |     AMBASSADOR_UPSTREAM_MODE       [dedicated]
                              shared (a few, carrying many clients)
  --shared-connections N      shared: upstream connections per listener AMBASSADOR_SHARED_CONNECTIONS  [1]
  --shared-max-frame BYTES    shared: a larger request gets its own     AMBASSADOR_SHARED_MAX_FRAME    [1048576]
                              connection
  --client-output-limit BYTES shared: close a client leaving more       AMBASSADOR_CLIENT_OUTPUT_LIMIT [67108864]
                              replies than this unread
  --cluster-ports FROM-TO     ports of a cluster's node listeners       AMBASSADOR_CLUSTER_PORTS       [the 64 above]
  --announce-host HOST        host cluster clients are told             AMBASSADOR_ANNOUNCE_HOST       [the one they used]
  --cluster-refresh MS        read the cluster topology this often      AMBASSADOR_CLUSTER_REFRESH_MS  [5000]
  --sentinel-poll MS          re-ask the sentinels this often           AMBASSADOR_SENTINEL_POLL_MS    [5000]
  --workers N                 processes sharing the listeners; the      AMBASSADOR_WORKERS             [1]
                              primary serves the admin endpoint with
                              the workers' metrics added up
  --max-clients N             clients beyond this get -ERR max number   AMBASSADOR_MAX_CLIENTS         [10000]
                              of clients reached
  --idle-timeout MS           close clients idle this long (0: never)   AMBASSADOR_IDLE_TIMEOUT_MS     [0]
  --tcp-keepalive MS          TCP keepalive on both sides (0: off)      AMBASSADOR_TCP_KEEPALIVE_MS    [300000]
  --max-bulk-length N         largest bulk string from a client         AMBASSADOR_MAX_BULK_LENGTH     [536870912]
  --max-multibulk-length N    most arguments in one command             AMBASSADOR_MAX_MULTIBULK_LENGTH [2147483647]
  --max-inline-length N       longest inline command                    AMBASSADOR_MAX_INLINE_LENGTH   [65536]
  --deny-commands LIST        refuse these with -NOPERM (FLUSHALL,CONFIG,CONFIG|SET)  AMBASSADOR_DENY_COMMANDS
  --allow-commands LIST       refuse all but these                      AMBASSADOR_ALLOW_COMMANDS
  --requirepass-file FILE     clients must AUTH with this password      AMBASSADOR_REQUIREPASS[_FILE]
  --upstream-username NAME    the ambassador AUTHs upstream itself      AMBASSADOR_UPSTREAM_USERNAME
  --upstream-password-file F  ... with this password                    AMBASSADOR_UPSTREAM_PASSWORD[_FILE]
  --tls-ca-file FILE          CA for rediss:// and tls:// upstreams     AMBASSADOR_TLS_CA_FILE
  --tls-cert-file FILE        client certificate for TLS upstreams      AMBASSADOR_TLS_CERT_FILE
  --tls-key-file FILE         its key                                   AMBASSADOR_TLS_KEY_FILE
  --tls-servername NAME       SNI and the name verified                 AMBASSADOR_TLS_SERVERNAME
  --tls-verify on|off         verify the upstream's certificate         AMBASSADOR_TLS_VERIFY          [on]
                              (AMBASSADOR_TLS_MASTERS=on: Sentinel's masters speak TLS)
  --tls-listen-cert-file FILE listeners speak TLS with this certificate AMBASSADOR_TLS_LISTEN_CERT_FILE
  --tls-listen-key-file FILE  ... and its key                           AMBASSADOR_TLS_LISTEN_KEY_FILE
  --tls-listen-ca-file FILE   client certificates must chain to this    AMBASSADOR_TLS_LISTEN_CA_FILE
  --tls-listen-client-auth M  require | optional | off                  AMBASSADOR_TLS_LISTEN_CLIENT_AUTH
                              [require with a CA file, else off]
  --tls-listen-ports LIST     listener ports that speak TLS (6379,6380) AMBASSADOR_TLS_LISTEN_PORTS    [all]
  --tls-handshake-timeout MS  close a client not through its handshake  AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS
                              by then [10000]
  --tls-client-users-file F   "<identity> <acl-user> <password>" lines  AMBASSADOR_TLS_CLIENT_USERS_FILE
                              a verified client certificate's CN (or SAN) picks the ACL user its
                              upstream connections AUTH as; a verified identity not named is refused
  --watch-secrets on|off      re-read secret files when they change     AMBASSADOR_WATCH_SECRETS       [on]
  SIGHUP re-reads every certificate, key, CA, password file and the users file; new handshakes and
  new upstream connections use them, open connections go on. A file that does not parse keeps the
  old material in force (an error is logged naming the file).
  --slowlog-ms MS|off         slow log: replies taking this long or     AMBASSADOR_SLOWLOG_MS          [100]
                              longer (network and upstream queue
                              included; 0: every command), on /slowlog
  --slowlog-len N             slow log entries kept                     AMBASSADOR_SLOWLOG_LEN         [128]
  --slowlog-args on|off       keep their arguments (cut as SLOWLOG;     AMBASSADOR_SLOWLOG_ARGS        [off]
                              data: keep the admin address private)
  --hotkeys on|off            top 100 keys per listener over 60 s on    AMBASSADOR_HOTKEYS             [off]
                              /hotkeys (key names: keep it private)
  Secrets come from variables or files only, never from flags.
  -h, --help                  this text
  -V, --version               the version

`;

const EXIT_CODES = `EXIT CODES
  0 stopped by SIGTERM/SIGINT   1 could not listen   2 configuration error
`;

export function helpText(version: string): string {
  return `redis-ambassador ${version}: a Redis-aware drop-in for the socat ambassador\n${CONTRACT_AND_FAILOVER}${FLAGS}${EXIT_CODES}`;
}
