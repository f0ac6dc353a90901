package exchange

// Keys of the engine, beside those in model.go.
const (
	kGelezen  = "idx/gel/"   // idx/gel/<gelezen time>/<delivery id>: files that leave ophalen/ 168 h later
	kFout     = "fout/"      // fout/<upload>/<entry>: one rejected file of an upload, for its report
	kProgress = "prog/"      // prog/<upload>: how far an unfinished upload got, for an exact redo
	kHold     = "idx/hold/"  // idx/hold/<mailbox>/<product>/<exchange>/<delivery id>: waiting for a Portaal route
	kRecvRef  = "idx/rref/"  // idx/rref/<org>/<product>/<referentienummer>/<message id>: Restore
	kExpire   = "idx/exp/"   // idx/exp/<received>/<upload>: purge 60 days after arrival
	kLogCount = "cnt/log/"   // cnt/log/<org>/<product>: entries in a berichtenlog, for its total
	kLogXRef  = "idx/lxref/" // idx/lxref/<org>/<product>/<crossRefnummer>/<message id>: berichtenlog filter
	kLogV     = "idx/logv/"  // idx/logv/<org>/<product>/<field><value>/<time>/<message id> -> summary: berichtenlog filter
)
