// The SAS data plane through @azure/storage-blob, as a backup tool uses it:
// properties, full and ranged downloads compared byte for byte with the
// images, page ranges (paged through NextMarker too) covering every
// non-zero 512-byte page, and getPageRangesDiffForManagedDisks between two
// disk restore points (every changed page listed, every ClearRange zero,
// empty against itself); then an incremental backup: the old image plus
// the diff's ranges downloaded equals the new one.
// Usage: node sas-blob.mjs NEW_SAS OLD_SAS NEW_IMAGE OLD_IMAGE
import { readFileSync } from 'node:fs';
import { PageBlobClient } from '@azure/storage-blob';

const [newSas, oldSas, newImg, oldImg] = process.argv.slice(2);
const want = readFileSync(newImg), old = readFileSync(oldImg);
const size = want.length;
let failed = 0;
const check = (cond, what) => {
  console.log(`${cond ? 'ok' : 'FAIL'} - storage-blob: ${what}`);
  if (!cond) failed++;
};
const zero = Buffer.alloc(512);
const inRanges = (ranges, off) => ranges.some((r) => r.start <= off && off <= r.end);

const blob = new PageBlobClient(newSas);
const props = await blob.getProperties();
check(props.blobType === 'PageBlob', 'getProperties: PageBlob');
check(props.contentLength === size + 512, 'contentLength = disk + 512-byte footer');
check(!!props.etag && !!props.lastModified, 'etag and lastModified');

const all = await blob.downloadToBuffer(0, undefined, { blockSize: 4 << 20, concurrency: 5 });
check(all.length === size + 512 && all.subarray(0, size).equals(want), 'downloadToBuffer equals the image');
check(all.subarray(size, size + 8).toString() === 'conectix', 'ends in a VHD footer');

let ranged = true;
let seed = 7;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
for (let i = 0; i < 20; i++) {
  const count = 1 + rnd(300000), offset = rnd(size + 512 - count);
  const r = await blob.download(offset, count);
  const chunks = [];
  for await (const c of r.readableStreamBody) chunks.push(c);
  ranged &&= Buffer.concat(chunks).equals(all.subarray(offset, offset + count));
}
check(ranged, '20 random ranged downloads equal the bytes');

const pages = [];
for await (const r of blob.listPageRanges()) pages.push(r);
let covered = true;
for (let off = 0; off < size; off += 512)
  if (!want.subarray(off, off + 512).equals(zero) && !inRanges(pages, off)) covered = false;
check(covered, `listPageRanges (${pages.length} ranges) covers every non-zero page`);
check(inRanges(pages, size), 'and the footer page');

const paged = [];
let npages = 0;
for await (const page of blob.listPageRanges().byPage({ maxPageSize: 2 })) {
  npages++;
  for (const r of page.pageRange || []) paged.push(r);
}
check(JSON.stringify(paged) === JSON.stringify(pages.map((r) => ({ start: r.start, end: r.end }))) && npages > 1,
      `listPageRanges by pages of 2 (${npages} pages through NextMarker) gives the same ranges`);

const diff = await blob.getPageRangesDiffForManagedDisks(0, undefined, oldSas);
const changed = (diff.pageRange || []).map((r) => ({ start: r.offset, end: r.offset + r.count }));
const cleared = (diff.clearRange || []).map((r) => ({ start: r.offset, end: r.offset + r.count }));
let diffOk = true;
for (let off = 0; off < size; off += 512) {
  const a = old.subarray(off, off + 512), b = want.subarray(off, off + 512);
  if (!a.equals(b) && !inRanges(changed, off) && !inRanges(cleared, off)) diffOk = false;
  if (inRanges(cleared, off) && !b.equals(zero)) diffOk = false;
}
check(diffOk, `getPageRangesDiffForManagedDisks: ${changed.length} written and ${cleared.length} cleared ranges, ` +
      'every changed page listed, every ClearRange zero');
const self = await blob.getPageRangesDiffForManagedDisks(0, undefined, newSas);
check(!(self.pageRange || []).length && !(self.clearRange || []).length, 'the diff against itself is empty');

// The incremental backup: old image + the written ranges + zeros for the cleared ones.
const rebuilt = Buffer.from(old);
for (const r of diff.pageRange || []) {
  const d = await blob.downloadToBuffer(r.offset, r.count + 1);
  d.copy(rebuilt, r.offset);
}
for (const r of diff.clearRange || []) rebuilt.fill(0, r.offset, r.offset + r.count + 1);
check(rebuilt.equals(want), 'old image + the diff downloaded = the new image (an incremental backup)');

try {
  await new PageBlobClient(newSas.replace(/sig=[^&]+/, 'sig=AAAA')).getProperties();
  check(false, 'a tampered SAS is refused');
} catch (e) {
  check(e.statusCode === 403, `a tampered SAS is refused (${e.statusCode})`);
}
process.exit(failed ? 1 : 0);
