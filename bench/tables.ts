// The data set's tables: DDL, row counts at scale 1, and a generator of LOAD DATA (TSV) rows.
import { intIn, pick } from './prng.js';
import type { Rng } from './prng.js';

export interface TableSpec {
  name: string;
  ddl: string;
  /** Rows at BENCH_SCALE=1. */
  rows: number;
  /** The row count does not follow BENCH_SCALE (a lookup table). */
  fixed?: true;
  /** Column list and SET clause of LOAD DATA. */
  load: string;
  /** One TSV line (no newline) for 1-based row id. */
  row: (rng: Rng, id: number) => string;
}

const LATIN = ['alpha', 'bravo', 'cargo', 'delta', 'export', 'freight', 'gadget', 'harbor', 'invoice', 'jacket',
  'kettle', 'ledger', 'market', 'nickel', 'orbit', 'parcel', 'quartz', 'refund', 'supply', 'ticket', 'urgent',
  'vendor', 'widget', 'yellow', 'zinc', 'blue', 'red', 'large', 'small', 'premium', 'basic', 'express'];
const CYRILLIC = ['заказ', 'доставка', 'склад', 'оплата', 'товар', 'клиент', 'возврат', 'скидка', 'посылка', 'срочно'];
const EMOJI = ['🚀', '📦', '✅', '🔥', '🎉', '💡', '🛒', '⭐'];
const FIRST = ['Anna', 'Boris', 'Chen', 'Dmitri', 'Elena', 'Fatima', 'George', 'Hana', 'Ivan', 'Julia', 'Олег', 'Мария', 'Сергей', 'Ольга'];
const LAST = ['Smith', 'Ivanov', 'Garcia', 'Müller', 'Kowalski', 'Tanaka', 'Rossi', 'Петров', 'Соколова', 'Nguyen'];
const COUNTRIES = ['US', 'DE', 'FR', 'RU', 'UA', 'PL', 'JP', 'CN', 'BR', 'IN', 'GB', 'IT', 'ES', 'NL', 'SE', 'CA'];
const STATUSES = ['new', 'paid', 'paid', 'shipped', 'shipped', 'shipped', 'cancelled', 'refunded'];
const KINDS = ['page_view', 'add_to_cart', 'checkout', 'payment', 'login', 'logout', 'search'];

const EPOCH = Date.UTC(2020, 0, 1);
const pad6 = (n: number): string => String(n).padStart(6, '0');
const datetime = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const date = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** Escape a text field for LOAD DATA's default format. */
const esc = (s: string): string => s.replace(/[\\\t\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : '\\n'));
const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

function words(rng: Rng, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(rng() < 0.2 ? pick(rng, CYRILLIC) : pick(rng, LATIN));
  return out.join(' ');
}

function bytesHex(rng: Rng, length: number, alphabet: number): string {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = Math.floor(rng() * alphabet);
  return buf.toString('hex');
}

const CUSTOMER_ROWS = 370_000;
const ORDER_ROWS = 1_120_000;

const orders: TableSpec = {
  name: 'orders',
  rows: ORDER_ROWS,
  ddl: `CREATE TABLE orders (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    title VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,
    created_at DATETIME(6) NOT NULL,
    status ENUM('new','paid','shipped','cancelled','refunded') NOT NULL,
    note TEXT NULL,
    KEY idx_customer (customer_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  load: '(id, customer_id, amount, title, created_at, status, note)',
  row: (rng, id) => {
    const title = `${words(rng, intIn(rng, 2, 5))}${rng() < 0.05 ? ` ${pick(rng, EMOJI)}` : ''}`;
    const created = `${datetime(EPOCH + id * 60_000 + intIn(rng, 0, 59_999))}.${pad6(intIn(rng, 0, 999_999))}`;
    const note = rng() < 0.3 ? esc(`${words(rng, intIn(rng, 5, 25))}${rng() < 0.2 ? `\n${words(rng, 4)}` : ''}`) : '\\N';
    const amount = (rng() ** 3 * 99_999 + 0.5).toFixed(2);
    return `${id}\t${intIn(rng, 1, CUSTOMER_ROWS)}\t${amount}\t${title}\t${created}\t${pick(rng, STATUSES)}\t${note}`;
  },
};

const events: TableSpec = {
  name: 'events',
  rows: 210_000,
  ddl: `CREATE TABLE events (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    order_id BIGINT UNSIGNED NOT NULL,
    kind VARCHAR(32) NOT NULL,
    created_at DATETIME NOT NULL,
    payload JSON NOT NULL,
    digest VARBINARY(16) NOT NULL,
    attachment BLOB NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  load: '(id, order_id, kind, created_at, payload, @digest, @attachment) SET digest = UNHEX(@digest), attachment = UNHEX(@attachment)',
  row: (rng, id) => {
    const items = Array.from({ length: intIn(rng, 0, 4) }, () => ({ sku: `SKU-${intIn(rng, 1000, 99999)}`, qty: intIn(rng, 1, 9) }));
    const payload = JSON.stringify({
      ip: `10.${intIn(rng, 0, 255)}.${intIn(rng, 0, 255)}.${intIn(rng, 1, 254)}`,
      ua: pick(rng, ['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Windows NT 10.0)', 'curl/8.5.0', 'okhttp/4.12']),
      query: rng() < 0.3 ? words(rng, 3) : null,
      items,
      ok: rng() < 0.95,
      ms: intIn(rng, 1, 5000),
    });
    const attachment = rng() < 0.1 ? bytesHex(rng, intIn(rng, 200, 2000), 16) : '\\N';
    return `${id}\t${intIn(rng, 1, ORDER_ROWS)}\t${pick(rng, KINDS)}\t${datetime(EPOCH + id * 250_000)}\t${esc(payload)}\t${bytesHex(rng, 16, 256)}\t${attachment}`;
  },
};

const customers: TableSpec = {
  name: 'customers',
  rows: CUSTOMER_ROWS,
  ddl: `CREATE TABLE customers (
    id INT NOT NULL PRIMARY KEY,
    country CHAR(2) NOT NULL,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(120) NOT NULL,
    birth_date DATE NULL,
    active TINYINT NOT NULL,
    score DOUBLE NOT NULL,
    created_at DATETIME NOT NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  load: '(id, country, name, email, birth_date, active, score, created_at)',
  row: (rng, id) => {
    const first = pick(rng, FIRST);
    const last = pick(rng, LAST);
    const birth = rng() < 0.1 ? '\\N' : date(Date.UTC(1950, 0, 1) + intIn(rng, 0, 55 * 365) * 86_400_000);
    return `${id}\t${pick(rng, COUNTRIES)}\t${first} ${last}\tuser${id}.${pick(rng, LATIN)}@example.com\t${birth}\t${rng() < 0.8 ? 1 : 0}\t${round(rng() * 1000, 6)}\t${datetime(EPOCH + id * 90_000)}`;
  },
};

const countries: TableSpec = {
  name: 'countries',
  rows: COUNTRIES.length,
  fixed: true,
  ddl: `CREATE TABLE countries (
    code CHAR(2) NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    region VARCHAR(32) NOT NULL,
    population INT UNSIGNED NOT NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  load: '(code, name, region, population)',
  row: (rng, id) =>
    `${COUNTRIES[(id - 1) % COUNTRIES.length]}\t${words(rng, 2)}\t${pick(rng, ['Europe', 'Asia', 'Americas', 'Европа'])}\t${intIn(rng, 1e5, 1.4e9)}`,
};

const WIDE_GROUPS = 8;
const wide: TableSpec = {
  name: 'metrics_wide',
  rows: 76_000,
  ddl: `CREATE TABLE metrics_wide (
    id INT NOT NULL PRIMARY KEY,
    ${Array.from({ length: WIDE_GROUPS }, (_, g) => `i${g} INT NOT NULL, d${g} DOUBLE NULL, s${g} VARCHAR(16) NOT NULL, t${g} DATE NOT NULL, b${g} TINYINT NOT NULL`).join(',\n    ')}
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  load: `(id, ${Array.from({ length: WIDE_GROUPS }, (_, g) => `i${g}, d${g}, s${g}, t${g}, b${g}`).join(', ')})`,
  row: (rng, id) => {
    const fields = [String(id)];
    for (let g = 0; g < WIDE_GROUPS; g++) {
      fields.push(
        String(intIn(rng, -1_000_000, 1_000_000)),
        rng() < 0.05 ? '\\N' : String(round((rng() - 0.5) * 1e6, 4)),
        pick(rng, LATIN).slice(0, 8) + intIn(rng, 0, 9999),
        date(EPOCH + intIn(rng, 0, 2000) * 86_400_000),
        String(intIn(rng, -128, 127)),
      );
    }
    return fields.join('\t');
  },
};

export const TABLES: readonly TableSpec[] = [orders, events, customers, countries, wide];
export const rowsAt = (spec: TableSpec, scale: number): number =>
  spec.fixed ? spec.rows : Math.max(1, Math.round(spec.rows * scale));

export const TABLE_NAMES: readonly string[] = TABLES.map((t) => t.name);
