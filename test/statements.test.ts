import { Buffer } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createStatementSplitter, splitStatements, type StatementEncoding } from '../src/mysql/statements.js';

/** Feeds the chunks to a splitter and collects what it emits. */
async function viaStream(chunks: Buffer[], encoding?: StatementEncoding): Promise<string[]> {
  const splitter = createStatementSplitter(encoding === undefined ? {} : { encoding });
  const out: string[] = [];
  const collected = (async () => {
    for await (const statement of splitter) out.push(statement as string);
  })();
  for (const chunk of chunks) splitter.write(chunk);
  splitter.end();
  await collected;
  return out;
}

/** `buf` cut at the given offsets. */
function cut(buf: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of offsets) {
    chunks.push(buf.subarray(from, at));
    from = at;
  }
  chunks.push(buf.subarray(from));
  return chunks;
}

/** Every single-cut split, one-byte chunks, and some random multi-cut splits all give `expected`. */
async function expectAllSplits(sql: string | Buffer, expected: string[], encoding?: StatementEncoding): Promise<void> {
  const buf = typeof sql === 'string' ? Buffer.from(sql, 'utf8') : sql;
  expect(await viaStream([buf], encoding)).toEqual(expected);
  for (let at = 0; at <= buf.length; at++) {
    const got = await viaStream(cut(buf, [at]), encoding);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      // Report the failing offset clearly.
      expect({ at, got }).toEqual({ at, got: expected });
    }
  }
  const bytes: Buffer[] = [];
  for (let k = 0; k < buf.length; k++) bytes.push(buf.subarray(k, k + 1));
  expect(await viaStream(bytes, encoding)).toEqual(expected);

  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  for (let round = 0; round < 50; round++) {
    const offsets = new Set<number>();
    const cuts = 1 + random(8);
    for (let k = 0; k < cuts; k++) offsets.add(random(buf.length + 1));
    const sorted = [...offsets].sort((a, b) => a - b);
    const got = await viaStream(cut(buf, sorted), encoding);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      expect({ offsets: sorted, got }).toEqual({ offsets: sorted, got: expected });
    }
  }
}

describe('splitStatements basics', () => {
  it('splits on the default delimiter and trims', () => {
    expect(splitStatements('SELECT 1;SELECT 2 ;\n\n  SELECT 3;\n')).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
  });

  it('returns nothing for empty, blank and comment-only input', () => {
    expect(splitStatements('')).toEqual([]);
    expect(splitStatements('  \n\t\r\n ')).toEqual([]);
    expect(splitStatements('-- just a comment\n# another\n/* and a block ; */\n;;\n ; \n')).toEqual([]);
  });

  it('emits text after the last delimiter as a final statement', () => {
    expect(splitStatements('SELECT 1; SELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(splitStatements('SELECT 1;\n  SELECT 2  \n')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(splitStatements('SELECT 1; -- trailing comment')).toEqual(['SELECT 1']);
    expect(splitStatements('SELECT 1; /* trailing */ \n')).toEqual(['SELECT 1']);
  });

  it('keeps inner newlines and spacing of a statement', () => {
    expect(splitStatements('CREATE TABLE t (\n  a int,\n  b int\n);')).toEqual(['CREATE TABLE t (\n  a int,\n  b int\n)']);
  });

  it('handles CRLF line endings', () => {
    expect(splitStatements('SELECT 1;\r\n-- c\r\nSELECT\r\n 2;\r\n')).toEqual(['SELECT 1', 'SELECT\r\n 2']);
  });

  it('skips a UTF-8 byte order mark at the start', async () => {
    const buf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('SELECT 1;SELECT 2;')]);
    expect(splitStatements(buf.toString('utf8'))).toEqual(['SELECT 1', 'SELECT 2']);
    await expectAllSplits(buf, ['SELECT 1', 'SELECT 2']);
  });
});

describe('quoted strings', () => {
  it('does not end a statement inside single-quoted strings', () => {
    const sql = String.raw`INSERT INTO t VALUES ('a;b'),('it\'s; ok'),('it''s; ok'),('back\\'),('x;');SELECT 2;`;
    expect(splitStatements(sql)).toEqual([
      String.raw`INSERT INTO t VALUES ('a;b'),('it\'s; ok'),('it''s; ok'),('back\\'),('x;')`,
      'SELECT 2',
    ]);
  });

  it('does not end a statement inside double-quoted strings', () => {
    const sql = String.raw`SELECT "a;b", "say \"hi;\"", "x"";y", "z\\";SELECT 2`;
    expect(splitStatements(sql)).toEqual([String.raw`SELECT "a;b", "say \"hi;\"", "x"";y", "z\\"`, 'SELECT 2']);
  });

  it('keeps comment markers inside strings as data', () => {
    const sql = "INSERT INTO t VALUES ('-- not a comment;'),('# nor this;'),('/* nor; this */'),(\"-- \"),(\"#;\");";
    expect(splitStatements(sql)).toEqual([sql.slice(0, -1)]);
  });

  it('handles a string that ends with an escaped backslash followed by the delimiter', () => {
    expect(splitStatements(String.raw`SELECT 'a\\';SELECT '\\\'';SELECT 3`)).toEqual([
      String.raw`SELECT 'a\\'`,
      String.raw`SELECT '\\\''`,
      'SELECT 3',
    ]);
  });

  it('keeps escape sequences untouched (the server interprets them)', () => {
    const sql = String.raw`INSERT INTO t VALUES ('a\nb\r\0\Z\t\%\_');`;
    expect(splitStatements(sql)).toEqual([sql.slice(0, -1)]);
  });

  it('keeps an unterminated string to the end of input', () => {
    expect(splitStatements("SELECT 'abc; def")).toEqual(["SELECT 'abc; def"]);
  });
});

describe('backtick identifiers', () => {
  it('does not end a statement inside backticks and handles doubled backticks', () => {
    const sql = 'CREATE TABLE `a;b` (`c``;d` int, `e` int);SELECT `x```;';
    expect(splitStatements(sql)).toEqual(['CREATE TABLE `a;b` (`c``;d` int, `e` int)', 'SELECT `x```']);
  });

  it('does not treat backslash as an escape inside backticks', () => {
    expect(splitStatements('SELECT 1 AS `a\\`;SELECT 2')).toEqual(['SELECT 1 AS `a\\`', 'SELECT 2']);
  });

  it('keeps quotes and comment markers inside backticks', () => {
    const sql = "SELECT `it's`, `-- x`, `#y`, `/*z*/` FROM t;";
    expect(splitStatements(sql)).toEqual([sql.slice(0, -1)]);
  });
});

describe('comments', () => {
  it('drops -- comments (dashes + whitespace) and # comments', () => {
    const sql = '-- header; comment\nSELECT 1, -- trailing; here\n 2;\n# hash; comment\nSELECT 3; # after\n--\tTab comment\n--\nSELECT 4;';
    expect(splitStatements(sql)).toEqual(['SELECT 1, \n 2', 'SELECT 3', 'SELECT 4']);
  });

  it('does not treat -- without whitespace as a comment', () => {
    expect(splitStatements('SELECT 1--1;SELECT 5---2;')).toEqual(['SELECT 1--1', 'SELECT 5---2']);
  });

  it('treats --<space> after a minus as a comment start', () => {
    expect(splitStatements('SELECT 1--- c\n;')).toEqual(['SELECT 1-']);
  });

  it('drops -- at the very end of input', () => {
    expect(splitStatements('SELECT 1 --')).toEqual(['SELECT 1']);
  });

  it('drops plain block comments, keeping tokens apart', () => {
    expect(splitStatements('/* lead; */ SELECT/* in; */1 /* tail */;/**/SELECT 2/*/ not closed yet; */;')).toEqual([
      'SELECT 1',
      'SELECT 2',
    ]);
  });

  it('drops multi-line block comments', () => {
    expect(splitStatements('/*\n * one;\n * two;\n */\nSELECT 1;')).toEqual(['SELECT 1']);
  });

  it('keeps executable comments and optimizer hints', () => {
    const sql = [
      '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;',
      '/*!50503 SET NAMES utf8mb4 */;',
      '/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;',
      'SELECT /*+ BKA(t1) NO_ICP(t2) */ * FROM t1, t2;',
      'CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) */;',
      '/*!*/;',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */',
      '/*!50503 SET NAMES utf8mb4 */',
      '/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */',
      'SELECT /*+ BKA(t1) NO_ICP(t2) */ * FROM t1, t2',
      'CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) */',
      '/*!*/',
    ]);
  });

  it('does not end a statement at a delimiter inside an executable comment or hint', () => {
    expect(splitStatements('/*!50003 BEGIN; SET x = 1; END */;SELECT /*+ a; */ 1;')).toEqual([
      '/*!50003 BEGIN; SET x = 1; END */',
      'SELECT /*+ a; */ 1',
    ]);
  });

  it('tracks strings inside executable comments', () => {
    expect(splitStatements("/*!50003 SET @a = 'x */ y;' */;SELECT 2;")).toEqual(["/*!50003 SET @a = 'x */ y;' */", 'SELECT 2']);
  });

  it('drops the MariaDB sandbox-mode line', () => {
    const sql = '/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19-11.4.2-MariaDB, for Linux (x86_64)\n\n/*!40101 SET NAMES utf8mb4 */;\nSELECT 1;';
    expect(splitStatements(sql)).toEqual(['/*!40101 SET NAMES utf8mb4 */', 'SELECT 1']);
  });

  it('drops the sandbox line even when it is followed directly by a statement', () => {
    expect(splitStatements('/*M!999999\\- enable the sandbox mode */SELECT 1;')).toEqual(['SELECT 1']);
    expect(splitStatements('/*M!999999\\- enable the sandbox mode */')).toEqual([]);
  });

  it('keeps other /*M! comments', () => {
    expect(splitStatements('/*M!999998 SET @x=1 */;/*M!9 SET @y=2 */;')).toEqual(['/*M!999998 SET @x=1 */', '/*M!9 SET @y=2 */']);
  });
});

describe('DELIMITER', () => {
  it('switches to ;; for a trigger body and back', () => {
    const sql = [
      'DELIMITER ;;',
      "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t_bi` BEFORE INSERT ON `t` FOR EACH ROW BEGIN",
      "  SET NEW.a = 1;",
      "  SET NEW.b = ';;';",
      'END */;;',
      'DELIMITER ;',
      'SELECT 1;',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t_bi` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n  SET NEW.a = 1;\n  SET NEW.b = ';;';\nEND */",
      'SELECT 1',
    ]);
  });

  it('splits a stored procedure body that is not in a comment', () => {
    const sql = [
      'delimiter ;;',
      'CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()',
      'BEGIN',
      '  SELECT 1;',
      '  SELECT 2; -- with a comment;;',
      'END ;;',
      'delimiter ;',
      'CALL p();',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      'CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\nBEGIN\n  SELECT 1;\n  SELECT 2; \nEND',
      'CALL p()',
    ]);
  });

  it('accepts other multi-character delimiters', () => {
    expect(splitStatements('DELIMITER $$\nSELECT 1; SELECT 2$$ SELECT 3 $$\nDELIMITER //\nSELECT 4//\n  Delimiter   ;  \nSELECT 5;')).toEqual([
      'SELECT 1; SELECT 2',
      'SELECT 3',
      'SELECT 4',
      'SELECT 5',
    ]);
  });

  it('recognises DELIMITER after comments and on a line after a finished statement', () => {
    expect(splitStatements('-- c\n/* d */\n  DELIMITER ;;\nSELECT 1;;SELECT 2;; DELIMITER ;\nSELECT 3;')).toEqual([
      'SELECT 1',
      'SELECT 2',
      'SELECT 3',
    ]);
  });

  it('ends an unfinished statement at a line starting with DELIMITER, as the client does', () => {
    expect(splitStatements('SELECT 1\nDELIMITER ;;\nSELECT 2;;\nSELECT 3 -- c\n  delimiter $$\r\nSELECT 4$$')).toEqual([
      'SELECT 1',
      'SELECT 2',
      'SELECT 3',
      'SELECT 4',
    ]);
  });

  it('does not treat DELIMITER inside a statement or a longer word as the command', () => {
    expect(splitStatements('SELECT 1 AS\ndelimiter;SELECT delimiters;')).toEqual(['SELECT 1 AS\ndelimiter', 'SELECT delimiters']);
  });

  it('accepts a quoted delimiter and a DELIMITER line at the end of input', () => {
    expect(splitStatements("DELIMITER '$$'\nSELECT 1$$DELIMITER ;")).toEqual(['SELECT 1']);
  });

  it('rejects a missing or backslash delimiter', async () => {
    expect(() => splitStatements('DELIMITER\nSELECT 1;')).toThrow(/DELIMITER/);
    expect(() => splitStatements('DELIMITER   \nSELECT 1;')).toThrow(/DELIMITER/);
    expect(() => splitStatements('DELIMITER')).toThrow(/DELIMITER/);
    expect(() => splitStatements('DELIMITER \\\\\nSELECT 1;')).toThrow(/backslash/);
    await expect(viaStream([Buffer.from('SELECT 1;\nDELIMITER\n')])).rejects.toThrow(/DELIMITER/);
  });
});

describe('latin1 output', () => {
  /** A string literal holding every byte value, escaped the way mysqldump escapes binary data. */
  function binaryLiteral(): Buffer {
    const escapes = new Map<number, string>([
      [0x00, '\\0'],
      [0x27, "\\'"],
      [0x22, '\\"'],
      [0x5c, '\\\\'],
      [0x0a, '\\n'],
      [0x0d, '\\r'],
      [0x1a, '\\Z'],
    ]);
    const parts: Buffer[] = [Buffer.from("'")];
    for (let b = 0; b < 256; b++) {
      const escaped = escapes.get(b);
      parts.push(escaped === undefined ? Buffer.from([b]) : Buffer.from(escaped, 'latin1'));
    }
    parts.push(Buffer.from("'"));
    return Buffer.concat(parts);
  }

  it('keeps the exact bytes of raw binary string literals, however the input is chunked', async () => {
    const literal = binaryLiteral();
    const first = Buffer.concat([Buffer.from('INSERT INTO `blobs` VALUES (1,'), literal, Buffer.from(",'a;b'),(2,"), literal, Buffer.from(')')]);
    const second = Buffer.from("SELECT 'café 😀'", 'utf8');
    const input = Buffer.concat([Buffer.from('-- c\n'), first, Buffer.from(';\n'), second, Buffer.from(';\n')]);
    const expected = [first.toString('latin1'), second.toString('latin1')];
    await expectAllSplits(input, expected, 'latin1');
    const got = await viaStream([input], 'latin1');
    expect(got.map((s) => Buffer.from(s, 'latin1'))).toEqual([first, second]);
  });

  it('defaults to UTF-8', async () => {
    const input = Buffer.from("SELECT 'é';");
    expect(await viaStream([input])).toEqual(["SELECT 'é'"]);
    expect(await viaStream([input], 'utf8')).toEqual(["SELECT 'é'"]);
    expect(await viaStream([input], 'latin1')).toEqual(["SELECT '\u00c3\u00a9'"]);
  });
});

describe('UTF-8', () => {
  it('decodes multi-byte characters, including emoji split across chunks', async () => {
    const sql = "INSERT INTO t VALUES ('😀'),('café'),('日本語;'),('👩‍👩‍👧');SELECT '∑';";
    const expected = ["INSERT INTO t VALUES ('😀'),('café'),('日本語;'),('👩‍👩‍👧')", "SELECT '∑'"];
    expect(splitStatements(sql)).toEqual(expected);
    await expectAllSplits(sql, expected);
  });

  it('decodes multi-byte characters outside strings and in identifiers', async () => {
    const sql = 'SELECT `naïve😀`, ünïcödé FROM `tâble`;SELECT 2';
    await expectAllSplits(sql, ['SELECT `naïve😀`, ünïcödé FROM `tâble`', 'SELECT 2']);
  });
});

const TRICKY = [
  '/*M!999999\\- enable the sandbox mode */ ',
  '-- MariaDB dump; header',
  '/*!40101 SET NAMES utf8mb4 */;',
  '/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;',
  String.raw`INSERT INTO ` + '`t;``x`' + String.raw` VALUES (1,'a\'b;c','d''e;','f\\',"g\";h",'😀 -- #'),(2,'/* ;',NULL);`,
  '# hash ;comment',
  'SELECT 1--1; SELECT 2 -- c ;',
  ';',
  'SELECT/* x; */3;',
  'DELIMITER ;;',
  "/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 'é;'; SET NEW.b = 2; END */;;",
  'SELECT 4;;',
  'DELIMITER $$',
  'SELECT 5 $$',
  'SELECT 6',
  'DELIMITER ;',
  'SELECT /*+ hint; */ 6;',
  'SELECT 7',
].join('\r\n');

const TRICKY_EXPECTED = [
  '/*!40101 SET NAMES utf8mb4 */',
  '/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */',
  String.raw`INSERT INTO ` + '`t;``x`' + String.raw` VALUES (1,'a\'b;c','d''e;','f\\',"g\";h",'😀 -- #'),(2,'/* ;',NULL)`,
  'SELECT 1--1',
  'SELECT 2 \r\n',
  'SELECT 3',
  "/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 'é;'; SET NEW.b = 2; END */",
  'SELECT 4',
  'SELECT 5',
  'SELECT 6',
  'SELECT /*+ hint; */ 6',
  'SELECT 7',
].map((s) => s.trim());

describe('chunk boundaries', () => {
  it('gives the expected statements for the tricky input as a whole', () => {
    expect(splitStatements(TRICKY)).toEqual(TRICKY_EXPECTED);
  });

  it('gives the same result for the tricky input split at every offset', async () => {
    await expectAllSplits(TRICKY, TRICKY_EXPECTED);
  });

  it('handles escapes, doubled quotes and delimiters at every boundary', async () => {
    const sql = String.raw`SELECT '\\', '\'', '''', "\"", """", ` + '`a``b`' + String.raw`, '\\\''; SELECT 'end';`;
    await expectAllSplits(sql, [sql.slice(0, sql.indexOf('; SELECT')), "SELECT 'end'"]);
  });

  it('finds escapes and quotes at every alignment inside long strings', async () => {
    const values: string[] = [];
    for (let n = 0; n < 12; n++) {
      const pad = 'x'.repeat(n);
      values.push(`'${pad}\\';${pad}'`, `"${pad}\\";${pad}"`, `'${pad}'';${pad}'`, `'${pad}\\\\'`, `\`${pad}\`\`;${pad}\``);
    }
    const first = `SELECT ${values.join(', ')}`;
    await expectAllSplits(`${first};SELECT 2;`, [first, 'SELECT 2']);
  });

  it('gives the same result for random token soup however it is chunked', async () => {
    const tokens = [
      ';', ';;', '$$', ' ', '\n', '\r\n', '\t', "'", '"', '`', '\\', "''", '``', '-', '--', '-- ', '--\n', '#', '/', '*', '/*',
      '*/', '/*!', '/*!40101 ', '/*M!', '/*M!999999\\- x */', '/*+', 'SELECT', 'a', '1', 'é', '😀', 'DELIMITER ;;\n',
      '\nDELIMITER ;\n', '\ndelimiter $$\n', 'd', 'delimiter',
    ];
    let seed = 987654321;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    for (let round = 0; round < 150; round++) {
      let text = '';
      const count = 5 + random(60);
      for (let k = 0; k < count; k++) text += tokens[random(tokens.length)]!;
      const buf = Buffer.from(text);
      let expected: string[] | Error;
      try {
        expected = splitStatements(text);
      } catch (err) {
        expected = err as Error;
      }
      for (let split = 0; split < 6; split++) {
        const offsets = new Set<number>();
        const cuts = 1 + random(buf.length);
        for (let k = 0; k < cuts; k++) offsets.add(random(buf.length + 1));
        const chunks = cut(buf, [...offsets].sort((a, b) => a - b));
        if (expected instanceof Error) {
          await expect(viaStream(chunks)).rejects.toThrow(expected.message);
        } else {
          const got = await viaStream(chunks);
          if (JSON.stringify(got) !== JSON.stringify(expected)) expect({ text, got }).toEqual({ text, got: expected });
        }
      }
    }
  });

  it('handles empty chunks', async () => {
    const buf = Buffer.from("SELECT 'a\\';b';SELECT 2;");
    const chunks = [Buffer.alloc(0), buf.subarray(0, 11), Buffer.alloc(0), buf.subarray(11, 12), Buffer.alloc(0), buf.subarray(12), Buffer.alloc(0)];
    expect(await viaStream(chunks)).toEqual(["SELECT 'a\\';b'", 'SELECT 2']);
  });

  it('handles a statement much larger than a chunk', async () => {
    const rows: string[] = [];
    for (let k = 0; k < 20000; k++) rows.push(`(${k},'row ${k}; it\\'s 😀 -- ok','x''y')`);
    const insert = `INSERT INTO \`big\` VALUES ${rows.join(',')}`;
    const buf = Buffer.from(`${insert};\nSELECT 1;\n`);
    const chunks: Buffer[] = [];
    for (let o = 0; o < buf.length; o += 65536 + 7) chunks.push(buf.subarray(o, o + 65536 + 7));
    expect(chunks.length).toBeGreaterThan(10);
    const got = await viaStream(chunks);
    expect(got).toHaveLength(2);
    expect(got[0] === insert).toBe(true);
    expect(got[1]).toBe('SELECT 1');
  });
});

describe('createStatementSplitter', () => {
  it('works in a pipeline with object-mode output', async () => {
    const sql = Buffer.from('SELECT 1;\nSELECT 2;\nSELECT 3');
    const got: string[] = [];
    await pipeline(
      Readable.from(cut(sql, [4, 9, 15])),
      createStatementSplitter(),
      new Writable({
        objectMode: true,
        write(statement: string, _encoding, callback) {
          got.push(statement);
          callback();
        },
      }),
    );
    expect(got).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
  });

  it('emits nothing for an empty stream', async () => {
    expect(await viaStream([])).toEqual([]);
  });
});

describe('a mysqldump file', () => {
  const dump = `-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
-- Server version\t8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table \`orders\`
--

DROP TABLE IF EXISTS \`orders\`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE \`orders\` (
  \`id\` int NOT NULL AUTO_INCREMENT,
  \`note\` varchar(255) DEFAULT NULL COMMENT 'free text; -- anything',
  PRIMARY KEY (\`id\`)
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table \`orders\`
--

LOCK TABLES \`orders\` WRITE;
/*!40000 ALTER TABLE \`orders\` DISABLE KEYS */;
INSERT INTO \`orders\` VALUES (1,'it\\'s; fine'),(2,'café 😀 \\\\');
/*!40000 ALTER TABLE \`orders\` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=\`root\`@\`localhost\`*/ /*!50003 TRIGGER \`orders_bi\` BEFORE INSERT ON \`orders\` FOR EACH ROW BEGIN
  IF NEW.note IS NULL THEN
    SET NEW.note = 'none;';
  END IF;
END */;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2024-05-01 10:00:00
`;

  const expected = [
    '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */',
    '/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */',
    '/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */',
    '/*!50503 SET NAMES utf8mb4 */',
    '/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */',
    "/*!40103 SET TIME_ZONE='+00:00' */",
    '/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */',
    '/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */',
    "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
    '/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */',
    'DROP TABLE IF EXISTS `orders`',
    '/*!40101 SET @saved_cs_client     = @@character_set_client */',
    '/*!50503 SET character_set_client = utf8mb4 */',
    "CREATE TABLE `orders` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `note` varchar(255) DEFAULT NULL COMMENT 'free text; -- anything',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
    '/*!40101 SET character_set_client = @saved_cs_client */',
    'LOCK TABLES `orders` WRITE',
    '/*!40000 ALTER TABLE `orders` DISABLE KEYS */',
    "INSERT INTO `orders` VALUES (1,'it\\'s; fine'),(2,'café 😀 \\\\')",
    '/*!40000 ALTER TABLE `orders` ENABLE KEYS */',
    'UNLOCK TABLES',
    '/*!50003 SET @saved_cs_client      = @@character_set_client */',
    '/*!50003 SET @saved_sql_mode       = @@sql_mode */',
    "/*!50003 SET sql_mode              = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES' */",
    "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `orders_bi` BEFORE INSERT ON `orders` FOR EACH ROW BEGIN\n  IF NEW.note IS NULL THEN\n    SET NEW.note = 'none;';\n  END IF;\nEND */",
    '/*!50003 SET sql_mode              = @saved_sql_mode */',
    '/*!50003 SET character_set_client  = @saved_cs_client */',
    '/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */',
    '/*!40101 SET SQL_MODE=@OLD_SQL_MODE */',
    '/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */',
    '/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */',
    '/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */',
    '/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */',
    '/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */',
    '/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */',
  ];

  it('splits a MySQL 8 dump like the mysql client', () => {
    expect(splitStatements(dump)).toEqual(expected);
  });

  it('splits a MariaDB 11 dump with the sandbox line the same way', () => {
    const mariadb = `/*M!999999\\- enable the sandbox mode */ \n${dump.replace('-- MySQL dump 10.13  Distrib 8.0.36', '-- MariaDB dump 10.19-11.4.2-MariaDB')}`;
    expect(splitStatements(mariadb)).toEqual(expected);
  });

  it('splits the dump the same way when streamed in small chunks', async () => {
    const buf = Buffer.from(dump);
    for (const size of [1, 2, 3, 5, 7, 16, 64, 1000]) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < buf.length; o += size) chunks.push(buf.subarray(o, o + size));
      expect(await viaStream(chunks)).toEqual(expected);
    }
  });
});
