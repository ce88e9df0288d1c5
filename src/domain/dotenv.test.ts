import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPOSE_GO, PODMAN_ENV_FILE, PYTHON_DOTENV, PYTHON_DOTENV_BOM, type DotenvDialect } from './dotenv.js';

/** [rule, file text, expected variables] per dialect; the environment is ENV below. */
type Case = [rule: string, text: string, expected: Record<string, string | undefined>];
const ENV = { FROM_ENV: 'env-value', BARE: 'bare-from-env' };

function table(dialect: DotenvDialect, cases: Case[]): void {
  describe(dialect.name, () => {
    for (const [rule, text, expected] of cases) {
      it(rule, () => assert.deepEqual({ ...dialect.parse(text, ENV) }, expected));
    }
  });
}

// Checked against the installed tools by test/e2e/dotenv-dialects.test.ts.
const pythonCases: Case[] = [
  ['export prefix', 'export A=1\n', { A: '1' }],
  ['single quotes keep # and backslashes but unescape \\\' and \\\\', "A='x # y \\n \\\\ \\''\n", { A: "x # y \\n \\ '" }],
  ['double quotes keep # and take escapes', 'A="x # y" # c\nB="q\\"q b\\\\s n\\nl t\\tt"\n', { A: 'x # y', B: 'q"q b\\s n\nl t\tt' }],
  ['inline comment after a space or a tab', 'A=v   # c\nB=v\t# c\n', { A: 'v', B: 'v' }],
  ['# without whitespace before it is part of the value', 'A=a#b\n', { A: 'a#b' }],
  ['multi-line quoted values', 'A="one\ntwo"\nB=\'x\ny\'\n', { A: 'one\ntwo', B: 'x\ny' }],
  ['a key without = is known but unset', 'BARE\nA=1\n', { BARE: undefined, A: '1' }],
  ['blank values', 'A=\nB=""\nC=\'\'\n', { A: '', B: '', C: '' }],
  ['whitespace around = and after the value', 'A   =   v   \n', { A: 'v' }],
  ['CRLF line ends', 'A=v\r\nB="x"\r\n', { A: 'v', B: 'x' }],
  ['${VAR} and ${VAR:-default} expand, earlier keys beating the environment; $VAR does not', 'FROM_ENV=file\nA=${FROM_ENV}-${NOPE:-dflt}-$FROM_ENV\nB=\'${A}\'\n', { FROM_ENV: 'file', A: 'file-dflt-$FROM_ENV', B: 'file-dflt-$FROM_ENV' }],
  ['the environment fills ${VAR} the file does not set', 'A=${FROM_ENV}\n', { A: 'env-value' }],
  ['a bad line is skipped, the rest read', 'A="open\nB=1\n', { B: '1' }],
  ['comment lines', '# A=1\n  # B=2\nC=3\n', { C: '3' }],
];
table(PYTHON_DOTENV, [...pythonCases, ['a BOM stays part of the first key', '\uFEFFA=1\n', { '\uFEFFA': '1' }]]);
table(PYTHON_DOTENV_BOM, [...pythonCases, ['a BOM is dropped', '\uFEFFA=1\n', { A: '1' }]]);

table(COMPOSE_GO, [
  ['export prefix', 'export A=1\n', { A: '1' }],
  ['single quotes keep everything literal but \\\'', "A='x # y \\n \\\\ \\' $FROM_ENV'\n", { A: "x # y \\n \\\\ ' $FROM_ENV" }],
  ['double quotes keep # and take escapes', 'A="x # y" # c\nB="q\\"q b\\\\s n\\nl t\\tt \\$x"\n', { A: 'x # y', B: 'q"q b\\s n\nl t\tt $x' }],
  ['inline comment only after a space', 'A=v   # c\nB=v\t# c\n', { A: 'v', B: 'v\t# c' }],
  ['# without a space before it is part of the value', 'A=a#b\n', { A: 'a#b' }],
  ['multi-line quoted values', 'A="one\ntwo"\nB=\'x\ny\'\n', { A: 'one\ntwo', B: 'x\ny' }],
  ['a key without = takes the environment, or nothing', 'BARE\nNOPE\nA=1\n', { BARE: 'bare-from-env', A: '1' }],
  ['blank values', 'A=\nB=""\nC=\'\'\n', { A: '', B: '', C: '' }],
  ['whitespace around = and after the value', 'A   =   v   \n', { A: 'v' }],
  ['CRLF line ends', 'A=v\r\nB="x"\r\n', { A: 'v', B: 'x' }],
  ['$VAR and ${VAR:-x} expand, the environment beating earlier keys', 'FROM_ENV=file\nX=x\nA=${FROM_ENV}-${NOPE:-dflt}-$X-$$\n', { FROM_ENV: 'file', X: 'x', A: 'env-value-dflt-x-$' }],
  ['yaml-style KEY: value', 'A: v\n', { A: 'v' }],
  ['an unterminated quote ends the file', 'B=1\nA="open\nC=1\n', { B: '1' }],
  ['comment lines', '# A=1\n  # B=2\nC=3\n', { C: '3' }],
]);

table(PODMAN_ENV_FILE, [
  ['export is part of the name', 'export A=1\n', { 'export A': '1' }],
  ['quotes are kept', 'A=\'x\'\nB="y"\n', { A: "'x'", B: '"y"' }],
  ['an inline comment is part of the value', 'A=v   # c\n', { A: 'v   # c' }],
  ['multi-line quotes are not values', 'A="one\ntwo"\n', { A: '"one' }],
  ['a key without = takes the environment, or nothing', 'BARE\nNOPE\n', { BARE: 'bare-from-env' }],
  ['PREFIX* takes every variable with the prefix', 'FROM_*\n', { FROM_ENV: 'env-value' }],
  ['blank values', 'A=\n', { A: '' }],
  ['leading whitespace is dropped, the rest is kept', '  A = v  \n', { 'A ': ' v  ' }],
  ['CRLF line ends', 'A=v\r\n', { A: 'v' }],
  ['comment lines', '# A=1\n  # B=2\nC=3\n', { C: '3' }],
]);
