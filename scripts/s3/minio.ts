/** MinIO, when a `minio` binary is on the PATH. */
import { freePort, HOST, type ServerSetup } from "./daemons.ts";

/** Starts it in `dir` under `procs`; returns its endpoint URL once it answers. */
export async function startMinio(
  { dir, procs, keys, signal, log }: ServerSetup,
): Promise<string> {
  const port = freePort();
  const consolePort = freePort();
  await Deno.mkdir(`${dir}/data`);
  procs.spawn("minio", "minio", [
    "server",
    `${dir}/data`,
    "--address",
    `${HOST}:${port}`,
    "--console-address",
    `${HOST}:${consolePort}`,
    "--certs-dir",
    `${dir}/certs`,
    "--quiet",
  ], {
    MINIO_ROOT_USER: keys.accessKey,
    MINIO_ROOT_PASSWORD: keys.secretKey,
    MINIO_BROWSER: "off",
    MINIO_UPDATE: "off",
  });
  log(`minio started on port ${port}`);
  await procs.waitHttp(port, "/minio/health/live", signal, (status) => status === 200);
  return `http://${HOST}:${port}`;
}
