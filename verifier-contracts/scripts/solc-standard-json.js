#!/usr/bin/env node
// Compiles Solidity with the pinned solc-js (see ../package.json) through the standard JSON
// interface: reads the standard-JSON input on stdin, writes the standard-JSON output on stdout.
// Used by zkgrid-evm's Rust solc driver; it never downloads a compiler at run time.
'use strict';

const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  if (process.argv.includes('--version')) {
    process.stdout.write(solc.version());
    return;
  }
  const output = solc.compile(input);
  process.stdout.write(output);
});
