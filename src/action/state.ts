/** Names under which the main step leaves what the post step needs (core.saveState). */
export const ActionState = { folder: "folder" } as const;
