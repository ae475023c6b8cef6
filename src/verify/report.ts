/**
 * What a verify job found: each check of the archive as a whole and of each table, passed or
 * failed with what was seen, and the failures in one list a caller can print.
 */

export interface Check {
  /** `copies`, `crc`, `manifest`; per table `sha256`, `rows`, `redump`. */
  check: string;
  /** false: failed; null: could not apply to this archive (why in `detail`). */
  ok: boolean | null;
  detail?: string;
}

export interface VerifyReport {
  archive: string;
  deep: boolean;
  /** True when no check failed. */
  ok: boolean;
  /** Checks of the archive as a whole. */
  archiveChecks: Check[];
  /** Per table (the archive's name, without `.sql`): its checks, in the order they ran. */
  tables: Record<string, Check[]>;
  /** One line per failed check, naming the table where there is one. */
  failures: string[];
}

/** Collects the checks as they run. */
export class ReportBuilder {
  private readonly archiveChecks: Check[] = [];
  private readonly tables: Record<string, Check[]> = Object.create(null) as Record<string, Check[]>;

  constructor(
    private readonly archive: string,
    private readonly deep: boolean,
  ) {}

  archiveCheck(check: string, ok: boolean | null, detail?: string): void {
    this.archiveChecks.push({ check, ok, ...(detail !== undefined && { detail }) });
  }

  tableCheck(table: string, check: string, ok: boolean | null, detail?: string): void {
    (this.tables[table] ??= []).push({ check, ok, ...(detail !== undefined && { detail }) });
  }

  /** Whether a table has failed a check already (later checks of it would only repeat that). */
  tableFailed(table: string): boolean {
    return (this.tables[table] ?? []).some((c) => c.ok === false);
  }

  get failed(): boolean {
    return this.archiveChecks.some((c) => c.ok === false) || Object.keys(this.tables).some((t) => this.tableFailed(t));
  }

  build(): VerifyReport {
    const failures = [
      ...this.archiveChecks.filter((c) => c.ok === false).map((c) => `${c.check}: ${c.detail ?? 'failed'}`),
      ...Object.entries(this.tables).flatMap(([table, checks]) =>
        checks.filter((c) => c.ok === false).map((c) => `${table}.sql ${c.check}: ${c.detail ?? 'failed'}`),
      ),
    ];
    return { archive: this.archive, deep: this.deep, ok: failures.length === 0, archiveChecks: this.archiveChecks, tables: this.tables, failures };
  }
}
