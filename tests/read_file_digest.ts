/** Prints the digest FileReader reads from the file named by the argument (for file_reader_test). */
import { FileReader } from "../lib/backup/file_reader.ts";

const reader = await FileReader.open(Deno.args[0]);
try {
  for await (const _ of reader.blocks()) { /* hashed as read */ }
  console.log(reader.finish());
} finally {
  reader.close();
}
