// Every CLI command module is imported here once, which registers it with the dispatcher.
// To add a command (train, predict, pretrain, demo, ...), create a module that calls
// registerCommand and import it below.
import './data';
import './evaluate';
import './baseline';
import './pretrain';
import './train';
import './train-supervised';
import './predict';
import './demo';
import './experiment';
import './report';
import './gate';
import './serve';
import './export';
