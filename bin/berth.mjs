#!/usr/bin/env node
// Runs the built CLI (npm run build first).
import { createRequire } from 'node:module';
createRequire(import.meta.url)('../out/main/cli.js');
