// The bundled entry point of the Action's post step (dist/post.js).
import { runPost } from "../post.js";

await runPost();
