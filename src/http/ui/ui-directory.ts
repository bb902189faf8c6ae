import { join } from 'node:path';

/**
 * The built UI (`npm run build` writes it): dist/web beside the sources, which is the same
 * directory whether this module runs from src/http/ui or, compiled, from dist/http/ui.
 */
export const uiDirectory = join(import.meta.dirname, '..', '..', '..', 'dist', 'web');
