/** Text for people: modes as `ls -l` writes them, local ISO 8601 times, sizes in binary units. */

const S_IFMT = 0o170000;
const TYPE_LETTERS: Record<number, string> = {
  0o040000: "d",
  0o100000: "-",
  0o120000: "l",
  0o020000: "c",
  0o060000: "b",
  0o010000: "p",
  0o140000: "s",
};

/** A full st_mode as `ls -l` shows it, e.g. `-rw-r--r--`, `drwxr-sr-x`, `drwxrwxrwt`. */
export function modeString(mode: number): string {
  const type = TYPE_LETTERS[mode & S_IFMT] ?? "?";
  const rwx = (bits: number, special: boolean, letter: string) =>
    (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") +
    (special ? (bits & 1 ? letter : letter.toUpperCase()) : bits & 1 ? "x" : "-");
  return type +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t");
}

/** A time as local ISO 8601 with its UTC offset, to the second: `2021-01-01T01:00:00+01:00`. */
export function localIsoTime(date: Date): string {
  const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, "0");
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Bytes in binary units with three significant digits: `713 B`, `2.50 MiB`, `118 GiB`. */
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Rows of cells as text columns, each column as wide as its widest cell; `right` columns are right-aligned. */
export function columns(rows: string[][], right: Set<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    row.map((cell, i) => {
      if (i === row.length - 1) return cell;
      return right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
    }).join("  ")
  );
}
