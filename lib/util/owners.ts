/**
 * User and group names from /etc/passwd and /etc/group (Deno has no getpwuid). An id
 * without a name is stored as its number.
 */

function readTable(path: string): string[][] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((l) => l && !l.startsWith("#")).map((l) =>
      l.split(":")
    );
  } catch {
    return [];
  }
}

/** Maps ids to names and back, read once. */
export class Owners {
  private readonly userNames = new Map<number, string>();
  private readonly groupNames = new Map<number, string>();
  private readonly userIds = new Map<string, number>();
  private readonly groupIds = new Map<string, number>();

  constructor(passwd = "/etc/passwd", group = "/etc/group") {
    for (const [name, , id] of readTable(passwd)) this.add(this.userNames, this.userIds, name, id);
    for (const [name, , id] of readTable(group)) this.add(this.groupNames, this.groupIds, name, id);
  }

  private add(names: Map<number, string>, ids: Map<string, number>, name: string, id: string) {
    const n = Number(id);
    if (!name || !/^\d+$/.test(id ?? "")) return;
    if (!names.has(n)) names.set(n, name);
    if (!ids.has(name)) ids.set(name, n);
  }

  /** The user name of a uid, or the uid as text. */
  userName(uid: number | null): string {
    if (uid === null) return "";
    return this.userNames.get(uid) ?? String(uid);
  }

  /** The group name of a gid, or the gid as text. */
  groupName(gid: number | null): string {
    if (gid === null) return "";
    return this.groupNames.get(gid) ?? String(gid);
  }

  /** The uid of a user name (or of a number stored as name), undefined when unknown. */
  userId(name: string): number | undefined {
    return this.userIds.get(name) ?? (/^\d+$/.test(name) ? Number(name) : undefined);
  }

  /** The gid of a group name (or of a number stored as name), undefined when unknown. */
  groupId(name: string): number | undefined {
    return this.groupIds.get(name) ?? (/^\d+$/.test(name) ? Number(name) : undefined);
  }
}
