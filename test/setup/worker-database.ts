// Runs in each vitest worker before its test files: files run in parallel, each worker in a
// database of its own (files of one worker run one after another and clean up their tables).
import mysql from 'mysql2/promise';

const database = `test_w${process.env.VITEST_POOL_ID ?? '1'}`;
if (process.env.TEST_DATABASE !== database) {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await conn.end();
  process.env.TEST_DATABASE = database;
  // The services the tests start read it (the default is database `test`).
  process.env.MYSQL_URL = `mysql://root@127.0.0.1:3306/${database}`;
}
