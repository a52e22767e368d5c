#!/usr/bin/env node
// Thin entry point: lets Node run the TypeScript sources as they are (tsx), then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
