// Tag text with a trained model from code: node examples/tag.mjs [MODEL_DIR|HUB_ID] [TEXT ...]
// MODEL defaults to runs/demo (what `bin/cyclener demo` trains); texts default to two demo-world sentences.
// In your own project, after `npm install cyclener`: import { NerModel } from 'cyclener'.
import { NerModel } from '../dist/src/index.js';

const [model = 'runs/demo', ...args] = process.argv.slice(2);
const texts = args.length > 0 ? args : ['Rutisen Corp opened an office in Lolo. Neba Corp hired Mibaren as chief executive.', 'the weather in Loba was cold.'];

const ner = await NerModel.load(model, { threads: 2 });
try {
  console.log(`model ${ner.info.dir}: types ${ner.info.types.join(', ')}`);
  const results = await ner.predict(texts);
  texts.forEach((text, i) => {
    console.log(`\n${text}`);
    for (const e of results[i]) console.log(`  [${e.start}, ${e.end}) ${e.label.padEnd(6)} ${e.text}`);
    if (results[i].length === 0) console.log('  (no entities)');
  });
} finally {
  ner.dispose();
}
