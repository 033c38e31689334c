#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so a clone needs no separate compile step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
