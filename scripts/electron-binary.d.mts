/** What is wrong with the electron package in `packageDir`, or null when its binary is there. */
export function electronBinaryProblem(packageDir: string): string | null;
/** The message `npm start` prints for `problem`: why, and what to run instead. */
export function missingBinaryMessage(problem: string): string;
