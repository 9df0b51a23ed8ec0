/** Running a command with bytes on stdin. */

/** Runs `cmd args` with `input` on stdin and returns its stdout; throws with its stderr on failure. */
export async function pipeThrough(
  cmd: string,
  args: string[],
  input: Uint8Array,
): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  // Read while writing: the command writes its output as it goes, and a full pipe would
  // block both.
  const outputDone = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const output = await outputDone;
  if (!output.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return output.stdout;
}
