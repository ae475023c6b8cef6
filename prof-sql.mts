import mysql from 'mysql2/promise';
import { readFileSync } from 'node:fs';
import { readDefinition } from './src/mysql/table-definition.js';
import { selectRowsSql } from './src/mysql/dump-sql.js';
const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'bench_0_25' });
await c.query("SET SESSION sql_mode = ''");
const pid = readFileSync('/proc/' + process.argv[2] + '/stat', 'utf8');
const cpu = () => { const f = readFileSync(`/proc/${process.argv[2]}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const nn: Record<string, Set<string>> = {};
const [cols] = await c.query<any[]>("SELECT TABLE_NAME t, COLUMN_NAME c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='bench_0_25' AND IS_NULLABLE='NO'");
for (const r of cols) (nn[r.t] ??= new Set()).add(r.c);
const core = (c as any).connection;
const run = (sql: string) => new Promise<number>((res, rej) => { let n = 0; const q = core.query({ sql, rowsAsArray: true, typeCast: false }); q.on('result', () => n++); q.on('end', () => res(n)); q.on('error', rej); });
for (const t of ['orders', 'events', 'customers', 'metrics_wide']) {
  const def = await readDefinition(c as any, t as any);
  const a = selectRowsSql(def);
  const b = a.replace(/CAST\(((?:[^()]|\((?:[^()]|\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\))*\))*) AS BINARY\)/g, '$1');
  let cc = b;
  for (const col of nn[t] ?? []) cc = cc.replaceAll(`IFNULL(\`${col}\`, 'NULL')`, `\`${col}\``);
  const d = cc.replace(/REPLACE\((QUOTE\(CONVERT\(`[^`]+` USING utf8mb4\)\)), '\\r', '\\\\r'\)/g, '$1');
  const res: string[] = [];
  for (const [name, sql] of [['A', a], ['B', b], ['C', cc], ['D', d], ['A', a], ['C', cc]] as const) {
    const before = cpu(); const t0 = performance.now(); const n = await run(sql); res.push(`${name} ${(cpu() - before).toFixed(2)}s/${((performance.now() - t0) / 1000).toFixed(2)}`);
    if (n === 0) throw new Error('no rows');
  }
  console.log(t, res.join('  '));
}
console.log(readFileSync('/dev/null').length);
await c.end();
