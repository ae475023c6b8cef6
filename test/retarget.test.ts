import { describe, expect, it } from 'vitest';
import { retargetTrigger } from '../src/mysql/retarget.js';

// A dump's CREATE TRIGGER, as SHOW CREATE TRIGGER gives it (SQL Original Statement), made for
// another table or left as it was written where nothing has to change.
const DUMPED = 'CREATE DEFINER=`root`@`localhost` TRIGGER vf_child_bi BEFORE INSERT ON vf_child FOR EACH ROW SET NEW.touched = NEW.touched + 1';

describe('retargetTrigger', () => {
  it('keeps the spelling of a header that needs no change (a re-dump then gives the same bytes)', () => {
    expect(retargetTrigger(DUMPED, 'vf_child', 'vf_child', new Set(), new Map())?.statement).toBe(DUMPED);
  });

  it('names the new table, back-quoted, and leaves the body alone', () => {
    const moved = retargetTrigger(DUMPED, 'vf_child', 'vf_child_old', new Set(), new Map());
    expect(moved?.statement).toBe('CREATE DEFINER=`root`@`localhost` TRIGGER vf_child_bi BEFORE INSERT ON `vf_child_old` FOR EACH ROW SET NEW.touched = NEW.touched + 1');
  });

  it('drops a schema from a qualified ON clause or trigger name, so the trigger lands where it runs', () => {
    const qualified = 'CREATE TRIGGER test.t_bi BEFORE UPDATE ON `test`.`t` FOR EACH ROW SET NEW.a = 1';
    expect(retargetTrigger(qualified, 't', 't', new Set(), new Map())?.statement).toBe('CREATE TRIGGER `t_bi` BEFORE UPDATE ON `t` FOR EACH ROW SET NEW.a = 1');
  });

  it('gives a trigger a fresh name when its own is taken, and a FOLLOWS the renamed one', () => {
    const renamed = new Map<string, string>();
    const first = retargetTrigger('CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW SET @x = 1', 't', 'u', new Set(['a']), renamed);
    expect(first?.name).not.toBe('a');
    const second = retargetTrigger('CREATE TRIGGER b BEFORE INSERT ON t FOR EACH ROW FOLLOWS a SET @x = 2', 't', 'u', new Set(), renamed);
    expect(second?.statement).toContain(`FOLLOWS \`${first?.name}\``);
  });
});
