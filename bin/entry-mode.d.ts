// Types of entry-mode.js (plain JavaScript: it runs before tsx is, or is not, loaded).
export declare const BUILD_ENTRY: string;
export interface EntryMode {
  readonly from: 'dist' | 'source';
  /** Why, in a few words (for logs and reports). */
  readonly why: string;
}
export declare function entryMode(root: string, env?: Readonly<Record<string, string | undefined>>): EntryMode;
export declare function staleSource(root: string): string | null;
