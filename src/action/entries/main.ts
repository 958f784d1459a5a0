// The bundled entry point of the Action's main step (dist/main.js).
import { runAction } from "../main.js";

await runAction();
