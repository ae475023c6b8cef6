import { expect, it } from 'vitest';
import { statementKind } from '../src/mysql/statement-kind.js';

it('finds triggers in our dumps and in mysqldump executable comments', () => {
  expect(statementKind('CREATE DEFINER=`root`@`localhost` TRIGGER t_bi BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1')).toBe('trigger');
  expect(statementKind("/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER `x` AFTER UPDATE ON `t` FOR EACH ROW BEGIN END */")).toBe('trigger');
  expect(statementKind("-- comment\n/* plain */ create definer='a b'@'h' trigger x before delete on t for each row set @a=1")).toBe('trigger');
  expect(statementKind('CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = 1')).toBe('trigger');
  expect(statementKind('CREATE OR REPLACE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = 1')).toBe('trigger');
});

it('tells session settings, database switches and everything else apart', () => {
  expect(statementKind('/*!40101 SET NAMES utf8mb4 */')).toBe('set');
  expect(statementKind("/*!50003 SET SESSION SQL_MODE='' */")).toBe('set');
  expect(statementKind('USE `other`')).toBe('use');
  expect(statementKind('/*!40000 CREATE DATABASE IF NOT EXISTS `x` */')).toBe('database');
  expect(statementKind('DROP SCHEMA x')).toBe('database');
  expect(statementKind('CREATE TABLE `trigger` (a INT)')).toBe('other');
  expect(statementKind("INSERT INTO t VALUES ('CREATE TRIGGER')")).toBe('other');
  expect(statementKind('DROP TABLE IF EXISTS `t`')).toBe('other');
  expect(statementKind('UPDATE t SET a = 1')).toBe('other');
});
