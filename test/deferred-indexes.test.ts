import { describe, expect, it } from 'vitest';
import { deferIndexes } from '../src/mysql/deferred-indexes.js';

// Exact SHOW CREATE TABLE output of MariaDB 10.11.
const MARIADB = `CREATE TABLE \`fastload_probe\` (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`a\` varchar(100) NOT NULL,
  \`b\` text DEFAULT NULL,
  \`c\` int(11) DEFAULT NULL,
  \`g\` point NOT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`u_a\` (\`a\`),
  KEY \`k_b\` (\`b\`(20)),
  KEY \`k_c_desc\` (\`c\` DESC,\`a\`) COMMENT 'ké, y',
  KEY \`k_ign\` (\`c\`) IGNORED,
  SPATIAL KEY \`sp_g\` (\`g\`),
  FULLTEXT KEY \`ft_b\` (\`b\`),
  CONSTRAINT \`chk_c\` CHECK (\`c\` > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`;

// MySQL 8.0's: functional and invisible indexes, DESC.
const MYSQL8 = `CREATE TABLE \`people\` (
  \`id\` int NOT NULL AUTO_INCREMENT,
  \`name\` varchar(50) NOT NULL,
  \`email\` varchar(100) DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`email\` (\`email\`),
  KEY \`idx_name_desc\` (\`name\` DESC),
  KEY \`f_lower\` ((lower(\`name\`))),
  KEY \`inv\` (\`email\`) /*!80000 INVISIBLE */
) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci`;

// MySQL 8.0.30+ with sql_generate_invisible_primary_key=ON, as SHOW CREATE TABLE shows the
// manual's auto_0 (Generated Invisible Primary Keys), with an invisible column and a key added.
const MYSQL8_GIPK = `CREATE TABLE \`auto_0\` (
  \`my_row_id\` bigint unsigned NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */,
  \`c1\` int DEFAULT NULL,
  \`c2\` varchar(10) DEFAULT NULL,
  \`c3\` int DEFAULT NULL /*!80023 INVISIBLE */,
  PRIMARY KEY (\`my_row_id\`),
  KEY \`k_c1\` (\`c1\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci`;

describe('deferIndexes', () => {
  it('keeps the primary key and CHECKs, and adds every other index in one ALTER, as written (MariaDB)', () => {
    const d = deferIndexes(MARIADB)!;
    expect(d.create).toBe(`CREATE TABLE \`fastload_probe\` (
  \`id\` int(11) NOT NULL AUTO_INCREMENT,
  \`a\` varchar(100) NOT NULL,
  \`b\` text DEFAULT NULL,
  \`c\` int(11) DEFAULT NULL,
  \`g\` point NOT NULL,
  PRIMARY KEY (\`id\`),
  CONSTRAINT \`chk_c\` CHECK (\`c\` > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`);
    expect(d.alter).toBe(
      "ALTER TABLE `fastload_probe` ADD UNIQUE KEY `u_a` (`a`), ADD KEY `k_b` (`b`(20)), ADD KEY `k_c_desc` (`c` DESC,`a`) COMMENT 'ké, y', " +
        'ADD KEY `k_ign` (`c`) IGNORED, ADD SPATIAL KEY `sp_g` (`g`), ADD FULLTEXT KEY `ft_b` (`b`)',
    );
    expect(d.count).toBe(6);
    expect(d.keepsUnique).toBe(false);
  });

  it('copies functional and invisible index parts (MySQL 8)', () => {
    const d = deferIndexes(MYSQL8)!;
    expect(d.create).toContain('PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7');
    expect(d.alter).toBe(
      'ALTER TABLE `people` ADD UNIQUE KEY `email` (`email`), ADD KEY `idx_name_desc` (`name` DESC), ADD KEY `f_lower` ((lower(`name`))), ADD KEY `inv` (`email`) /*!80000 INVISIBLE */',
    );
  });

  it('keeps a generated invisible primary key and invisible columns as written (MySQL 8.0.30)', () => {
    const d = deferIndexes(MYSQL8_GIPK)!;
    expect(d.create).toBe(`CREATE TABLE \`auto_0\` (
  \`my_row_id\` bigint unsigned NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */,
  \`c1\` int DEFAULT NULL,
  \`c2\` varchar(10) DEFAULT NULL,
  \`c3\` int DEFAULT NULL /*!80023 INVISIBLE */,
  PRIMARY KEY (\`my_row_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci`);
    expect(d.alter).toBe('ALTER TABLE `auto_0` ADD KEY `k_c1` (`c1`)');
  });

  it('without a primary key the UNIQUE indexes stay (InnoDB may cluster on one)', () => {
    const d = deferIndexes('CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  `b` int(11) DEFAULT NULL,\n  UNIQUE KEY `a` (`a`),\n  KEY `b` (`b`)\n) ENGINE=InnoDB')!;
    expect(d.create).toBe('CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  `b` int(11) DEFAULT NULL,\n  UNIQUE KEY `a` (`a`)\n) ENGINE=InnoDB');
    expect(d.alter).toBe('ALTER TABLE `t` ADD KEY `b` (`b`)');
    expect(d.keepsUnique).toBe(true);
  });

  it('an AUTO_INCREMENT column keeps its index; several FULLTEXT indexes stay (one per ALTER in InnoDB)', () => {
    const d = deferIndexes(
      'CREATE TABLE `t` (\n  `k` int(11) NOT NULL,\n  `n` int(11) NOT NULL AUTO_INCREMENT,\n  `x` text,\n  `y` text,\n  `z` int(11),\n  PRIMARY KEY (`k`),\n  KEY `n` (`n`),\n  KEY `z` (`z`),\n  FULLTEXT KEY `x` (`x`),\n  FULLTEXT KEY `y` (`y`)\n) ENGINE=InnoDB',
    )!;
    expect(d.create).toContain('PRIMARY KEY (`k`),\n  KEY `n` (`n`),\n  FULLTEXT KEY `x` (`x`),\n  FULLTEXT KEY `y` (`y`)\n) ENGINE=InnoDB');
    expect(d.alter).toBe('ALTER TABLE `t` ADD KEY `z` (`z`)');
  });

  it('loads as written what it does not understand or should not defer', () => {
    const fk = MYSQL8.replace(" /*!80000 INVISIBLE */\n", " /*!80000 INVISIBLE */,\n  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `p` (`id`)\n");
    expect(deferIndexes(fk)).toBeNull(); // a foreign key needs its index all along
    expect(deferIndexes(MARIADB.replace('ENGINE=InnoDB', 'ENGINE=MyISAM'))).toBeNull();
    expect(deferIndexes('CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB')).toBeNull(); // nothing to defer
    expect(deferIndexes('CREATE TABLE t (a INT PRIMARY KEY, b INT, KEY (b)) ENGINE=InnoDB')).toBeNull();
    expect(deferIndexes('CREATE TABLE IF NOT EXISTS `t` (\n  `a` int,\n  KEY `a` (`a`)\n) ENGINE=InnoDB')).toBeNull();
    expect(deferIndexes('CREATE TABLE `t` (\n  `a` varchar(2000),\n  `i` int NOT NULL,\n  PRIMARY KEY (`i`),\n  UNIQUE KEY `a` (`a`) USING HASH\n) ENGINE=InnoDB')).toBeNull();
    expect(deferIndexes('CREATE TABLE `t` (\n  `a` int AS (1 +\n2) VIRTUAL,\n  `i` int NOT NULL,\n  PRIMARY KEY (`i`),\n  KEY `a` (`a`)\n) ENGINE=InnoDB')).toBeNull();
  });
});
