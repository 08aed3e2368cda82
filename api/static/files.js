// Files the person chose: from the file inputs or a drop, folders walked where the browser allows.
// Each entry is {file, name}; `name` keeps the folder path so results can say where a file was.

const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|bmp|webp|tiff?|heic|heif|pgm|ppm|pbm)$/i;

export function looksLikeImage(file) {
  return file.type.startsWith("image/") || IMAGE_EXTENSIONS.test(file.name);
}

function isHidden(name) {
  return name.split("/").some((part) => part.startsWith("."));
}

// Files picked one by one are all sent: the service says plainly what it cannot read.
export function fromFileList(list) {
  return Array.from(list, (file) => ({ file, name: file.name }));
}

// A folder holds all sorts of things (labels.csv, .DS_Store): only images are sent.
export function fromFolderList(list) {
  const entries = Array.from(list, (file) => ({ file, name: file.webkitRelativePath || file.name }));
  return splitImages(entries);
}

export function splitImages(entries) {
  const images = [];
  const skipped = [];
  for (const entry of entries) {
    (looksLikeImage(entry.file) && !isHidden(entry.name) ? images : skipped).push(entry);
  }
  return { images, skipped };
}

// --- drops ---------------------------------------------------------------------

function readAllEntries(reader) {
  // readEntries answers in batches (100 in Chromium) until it answers an empty one.
  return new Promise((resolve, reject) => {
    const all = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(all);
        else {
          all.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function fileOf(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry, out) {
  if (entry.isFile) {
    out.push({ file: await fileOf(entry), name: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry.createReader())) await walk(child, out);
  }
}

// Resolves to {images, skipped, hadFolder}. Loose files dropped are all kept (as when chosen);
// files found inside dropped folders are filtered to images.
export async function fromDrop(dataTransfer) {
  const items = Array.from(dataTransfer.items || []).filter((item) => item.kind === "file");
  const entries = items.map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 0) {
    return { images: fromFileList(dataTransfer.files), skipped: [], hadFolder: false };
  }
  const loose = [];
  const inFolders = [];
  for (const entry of entries) {
    if (entry.isDirectory) await walk(entry, inFolders);
    else await walk(entry, loose);
  }
  const { images, skipped } = splitImages(inFolders);
  return { images: [...loose, ...images], skipped, hadFolder: inFolders.length + skipped.length > 0 };
}
