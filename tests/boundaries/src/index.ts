export { checkBoundaries, DEFAULT_PATHS, REPO_ROOT, type Violation } from "./check";
