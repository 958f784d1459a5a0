import { describe, expect, it } from "vitest";
import { buildInfoArgs, parseDiskInfo } from "../../src/disk/inspect.js";

// `qemu-img info -U --output=json` output from QEMU 7.2 (Debian 12).
const qcow2WithBacking = `{
    "virtual-size": 3221225472,
    "filename": "overlay.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": false, "extended-l2": false}},
    "full-backing-filename": "/c/images/debian-12/disk.qcow2",
    "backing-filename": "/c/images/debian-12/disk.qcow2",
    "backing-filename-format": "qcow2",
    "dirty-flag": false
}`;

describe("parseDiskInfo", () => {
  it("reads format, size and backing file", () => {
    expect(parseDiskInfo(qcow2WithBacking)).toEqual({
      format: "qcow2",
      virtualSize: 3221225472,
      backingFile: "/c/images/debian-12/disk.qcow2",
      dataFile: undefined,
      corrupt: false,
    });
  });

  it("reads an external data file and the corrupt flag", () => {
    const info = parseDiskInfo(
      '{"virtual-size": 1, "format": "qcow2", "format-specific": {"type": "qcow2", "data": {"corrupt": true, "data-file": "/etc/shadow"}}}',
    );
    expect(info).toMatchObject({ dataFile: "/etc/shadow", corrupt: true });
  });

  it("rejects what is not qemu-img's JSON", () => {
    expect(parseDiskInfo("not json")).toBeUndefined();
    expect(parseDiskInfo('{"format": "raw"}')).toBeUndefined();
  });

  it("asks qemu-img to share locks, so an image in use can be inspected", () => {
    expect(buildInfoArgs("/d.img")).toEqual(["qemu-img", "info", "-U", "--output=json", "/d.img"]);
  });
});
