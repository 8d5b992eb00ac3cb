// azurite-load.mjs ENDPOINT FILE — bench/sas's azurite peer: creates container
// "bench" and in it a page blob "disk.vhd" of FILE's size (a multiple of 512)
// on the azurite Blob service at ENDPOINT (https://127.0.0.1:PORT/devstoreaccount1,
// the well-known development account), uploads FILE's non-zero 64 KiB blocks
// with Put Page (runs of them, at most 4 MiB a request; zero pages are left
// unwritten, as azcopy uploads a page blob, and read as zeros), and prints a
// read SAS URL of the blob (one day).
// @azure/storage-blob comes from tests/clients/node_modules (VMRP_SRC).
// TLS: NODE_EXTRA_CA_CERTS names the CA of azurite's certificate.
import { createRequire } from "node:module";
import { open } from "node:fs/promises";

const require = createRequire(`${process.env.VMRP_SRC}/tests/clients/package.json`);
const {
  BlobServiceClient, StorageSharedKeyCredential, generateBlobSASQueryParameters, BlobSASPermissions,
} = require("@azure/storage-blob");

const [endpoint, file] = process.argv.slice(2);
const account = "devstoreaccount1";
const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const cred = new StorageSharedKeyCredential(account, key);
const svc = new BlobServiceClient(endpoint, cred);
const container = svc.getContainerClient("bench");
await container.createIfNotExists();
const blob = container.getPageBlobClient("disk.vhd");
const fh = await open(file, "r");
const size = (await fh.stat()).size;
if (size % 512) throw new Error(`${file}: size ${size} is not a multiple of 512`);
await blob.create(size);
const PIECE = 4 << 20, BLOCK = 64 << 10;
const zero = Buffer.alloc(PIECE);
let next = 0, uploaded = 0;
async function worker() {
  const buf = Buffer.alloc(PIECE);
  for (;;) {
    const off = next;
    if (off >= size) return;
    next += PIECE;
    const n = Math.min(PIECE, size - off);
    const { bytesRead } = await fh.read(buf, 0, n, off);
    if (bytesRead !== n) throw new Error(`short read at ${off}`);
    // runs of non-zero 64 KiB blocks (vmrp's chunk: its page list skips the
    // zero ones, so both blobs list the same ranges), one Put Page each
    for (let i = 0; i < n;) {
      const blk = (j) => buf.subarray(j, Math.min(j + BLOCK, n));
      if (blk(i).equals(zero.subarray(0, blk(i).length))) { i += BLOCK; continue; }
      let j = i + BLOCK;
      while (j < n && !blk(j).equals(zero.subarray(0, blk(j).length))) j += BLOCK;
      j = Math.min(j, n);
      await blob.uploadPages(buf.subarray(i, j), off + i, j - i);
      uploaded += j - i;
      i = j;
    }
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
await fh.close();
const sas = generateBlobSASQueryParameters({
  containerName: "bench", blobName: "disk.vhd", permissions: BlobSASPermissions.parse("r"),
  startsOn: new Date(Date.now() - 60_000), expiresOn: new Date(Date.now() + 86_400_000),
}, cred).toString();
process.stderr.write(`azurite: page blob of ${size} bytes, ${uploaded} uploaded (non-zero 64 KiB blocks)\n`);
console.log(`${blob.url}?${sas}`);
