import { describe, expect, it } from 'vitest';
import { addCheckSql, checkNamesPerSchema, dropCheckSql, planCheckNames, type CheckConstraint } from '../src/mysql/check-constraints.js';

// The example of the MySQL 8.0 manual (15.1.20.6 CHECK Constraints): CREATE TABLE t1 (CHECK (c1 <> c2),
// c1 INT CHECK (c1 > 10), c2 INT CONSTRAINT c2_positive CHECK (c2 > 0), c3 INT CHECK (c3 < 100),
// CONSTRAINT c1_nonzero CHECK (c1 <> 0), CHECK (c1 > c3)); as information_schema then lists it.
const t1 = (table: string): CheckConstraint[] => [
  { table, name: 'c1_nonzero', clause: '(`c1` <> 0)', enforced: true },
  { table, name: 'c2_positive', clause: '(`c2` > 0)', enforced: true },
  { table, name: 't1_chk_1', clause: '(`c1` <> `c2`)', enforced: true },
  { table, name: 't1_chk_2', clause: '(`c1` > 10)', enforced: true },
  { table, name: 't1_chk_3', clause: '(`c3` < 100)', enforced: true },
  { table, name: 't1_chk_4', clause: '(`c1` > `c3`)', enforced: false },
];

describe('CHECK constraint names around a swap (unique per schema on MySQL 8)', () => {
  it('knows which servers keep the names per schema', () => {
    expect(checkNamesPerSchema('8.0.36')).toBe(true);
    expect(checkNamesPerSchema('8.0.16-log')).toBe(true);
    expect(checkNamesPerSchema('8.4.3')).toBe(true);
    expect(checkNamesPerSchema('9.1.0')).toBe(true);
    expect(checkNamesPerSchema('8.0.15')).toBe(false);
    expect(checkNamesPerSchema('5.7.44-log')).toBe(false);
    expect(checkNamesPerSchema('10.11.6-MariaDB-0+deb12u1')).toBe(false);
    expect(checkNamesPerSchema('11.4.2-MariaDB')).toBe(false);
  });

  it('a restore over t1: the table set aside gives up every name the loaded copy uses, nothing is renamed', () => {
    const plan = planCheckNames(t1('t1'), t1('t1'), new Set(['t1']));
    expect(plan.dropFromReplaced.map((c) => c.name)).toEqual(['c1_nonzero', 'c2_positive', 't1_chk_1', 't1_chk_2', 't1_chk_3', 't1_chk_4']);
    expect(plan.renameIncoming).toEqual([]);
  });

  it('t1 restored as t1_old next to the live t1, which stays: the copy\'s constraints come back under fresh names', () => {
    const live = [...t1('t1'), { table: 'other', name: 'unrelated', clause: '(`x` > 0)', enforced: true }];
    const plan = planCheckNames(t1('t1_old'), live, new Set());
    expect(plan.dropFromReplaced).toEqual([]);
    expect(plan.renameIncoming.map((c) => [c.name, c.newName])).toEqual([
      ['c1_nonzero', 't1_old_c1_nonzero'],
      ['c2_positive', 't1_old_c2_positive'],
      ['t1_chk_1', 't1_old_t1_chk_1'],
      ['t1_chk_2', 't1_old_t1_chk_2'],
      ['t1_chk_3', 't1_old_t1_chk_3'],
      ['t1_chk_4', 't1_old_t1_chk_4'],
    ]);
    const last = plan.renameIncoming[5]!;
    expect(addCheckSql('shop', last.table, last.newName, last)).toBe('ALTER TABLE `shop`.`t1_old` ADD CONSTRAINT `t1_old_t1_chk_4` CHECK ((`c1` > `c3`)) NOT ENFORCED');
  });

  it('names compare case-insensitively, and a fresh name avoids every name in use', () => {
    const live = [{ table: 'b', name: 'Positive', clause: '(`v` > 0)', enforced: true }, { table: 'c', name: 'a_positive', clause: '(`w` > 0)', enforced: true }];
    const plan = planCheckNames([{ table: 'a', name: 'positive', clause: '(`v` > 0)', enforced: true }], live, new Set());
    expect(plan.renameIncoming.map((c) => c.newName)).toEqual(['a_positive_2']);
    expect(dropCheckSql('shop', { table: 'a`b', name: 'p' })).toBe('ALTER TABLE `shop`.`a``b` DROP CHECK `p`');
  });
});
