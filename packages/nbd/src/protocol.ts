/**
 * NBD wire constants, named exactly as the NBD protocol document
 * (NetworkBlockDevice/nbd doc/proto.md) names them. Section names in the
 * comments point at the spec.
 */

/** "NBDMAGIC": first 8 bytes the server sends (spec: Handshake). */
export const NBDMAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": newstyle magic and option request magic (spec: Newstyle negotiation). */
export const IHAVEOPT = 0x49484156454f5054n;
/** Oldstyle negotiation magic, which this client refuses (spec: Oldstyle negotiation). */
export const NBD_OLDSTYLE_MAGIC = 0x00420281861253n;
/** Magic of every option reply (spec: Option reply). */
export const NBD_OPTION_REPLY_MAGIC = 0x3e889045565a9n;

/** Handshake flag: server supports fixed newstyle (spec: Handshake flags). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
/** Handshake flag: server may omit the 124 zero bytes. */
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flag: client speaks fixed newstyle (spec: Client flags). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
/** Client flag: client does not want the 124 zero bytes. */
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Option types (spec: Option types). */
export const NBD_OPT_EXPORT_NAME = 1;
/** Abort negotiation. */
export const NBD_OPT_ABORT = 2;
/** List exports. */
export const NBD_OPT_LIST = 3;
/** Export info without entering transmission. */
export const NBD_OPT_INFO = 6;
/** Select export, get info, enter transmission. */
export const NBD_OPT_GO = 7;
/** Enable structured replies. */
export const NBD_OPT_STRUCTURED_REPLY = 8;
/** List metadata contexts. */
export const NBD_OPT_LIST_META_CONTEXT = 9;
/** Select metadata contexts for NBD_CMD_BLOCK_STATUS. */
export const NBD_OPT_SET_META_CONTEXT = 10;

/** Option reply types (spec: Option reply types). */
export const NBD_REP_ACK = 1;
/** An export name (reply to NBD_OPT_LIST). */
export const NBD_REP_SERVER = 2;
/** Export information (reply to NBD_OPT_INFO / NBD_OPT_GO). */
export const NBD_REP_INFO = 3;
/** A metadata context (id + name). */
export const NBD_REP_META_CONTEXT = 4;
/** Bit set in every error reply type. */
export const NBD_REP_FLAG_ERROR = 0x80000000;
/** Option unknown to the server. */
export const NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR + 1;
/** Forbidden by server policy. */
export const NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR + 2;
/** Syntactically or semantically invalid option. */
export const NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR + 3;
/** Not supported on this platform. */
export const NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR + 4;
/** TLS required first. */
export const NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR + 5;
/** Export unknown. */
export const NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR + 6;
/** Server shutting down. */
export const NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR + 7;
/** Client must request block sizes. */
export const NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR + 8;
/** Request too big. */
export const NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR + 9;

/** Info types carried by NBD_REP_INFO (spec: NBD_OPT_INFO and NBD_OPT_GO). */
export const NBD_INFO_EXPORT = 0;
/** Canonical export name. */
export const NBD_INFO_NAME = 1;
/** Export description. */
export const NBD_INFO_DESCRIPTION = 2;
/** Minimum, preferred and maximum block sizes. */
export const NBD_INFO_BLOCK_SIZE = 3;

/** Transmission flags (spec: Transmission flags). */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
/** Export is read-only. */
export const NBD_FLAG_READ_ONLY = 1 << 1;
/** NBD_CMD_FLUSH supported. */
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
/** NBD_CMD_FLAG_FUA supported. */
export const NBD_FLAG_SEND_FUA = 1 << 3;
/** Rotational media hint. */
export const NBD_FLAG_ROTATIONAL = 1 << 4;
/** NBD_CMD_TRIM supported. */
export const NBD_FLAG_SEND_TRIM = 1 << 5;
/** NBD_CMD_WRITE_ZEROES supported. */
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
/** NBD_CMD_FLAG_DF supported. */
export const NBD_FLAG_SEND_DF = 1 << 7;
/** Several connections to this export see one consistent image. */
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
/** NBD_CMD_CACHE supported. */
export const NBD_FLAG_SEND_CACHE = 1 << 10;
/** NBD_CMD_FLAG_FAST_ZERO supported. */
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

/** Request magic (spec: Request message). */
export const NBD_REQUEST_MAGIC = 0x25609513;
/** Simple reply magic (spec: Simple reply message). */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
/** Structured reply chunk magic (spec: Structured reply chunk message). */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Request types (spec: Request types). */
export const NBD_CMD_READ = 0;
/** Write payload. */
export const NBD_CMD_WRITE = 1;
/** Disconnect. */
export const NBD_CMD_DISC = 2;
/** Flush to stable storage. */
export const NBD_CMD_FLUSH = 3;
/** Discard. */
export const NBD_CMD_TRIM = 4;
/** Write zeroes without payload. */
export const NBD_CMD_WRITE_ZEROES = 6;
/** Query metadata contexts. */
export const NBD_CMD_BLOCK_STATUS = 7;

/** Command flags (spec: Command flags). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
/** WRITE_ZEROES must allocate. */
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
/** READ must not fragment into chunks. */
export const NBD_CMD_FLAG_DF = 1 << 2;
/** BLOCK_STATUS: return one extent only. */
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
/** WRITE_ZEROES: fail fast if zeroing would be slow. */
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

/** Structured reply flags (spec: Structured reply flags). */
export const NBD_REPLY_FLAG_DONE = 1 << 0;

/** Structured reply types (spec: Structured reply types). */
export const NBD_REPLY_TYPE_NONE = 0;
/** Data at an offset. */
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
/** Zeroes at an offset. */
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
/** Extents for one metadata context. */
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
/** Bit set in every error chunk type. */
export const NBD_REPLY_TYPE_ERROR_BIT = 1 << 15;
/** Error for the whole request. */
export const NBD_REPLY_TYPE_ERROR = NBD_REPLY_TYPE_ERROR_BIT + 1;
/** Error at an offset. */
export const NBD_REPLY_TYPE_ERROR_OFFSET = NBD_REPLY_TYPE_ERROR_BIT + 2;

/** base:allocation status bits (spec: base:allocation metadata context). */
export const NBD_STATE_HOLE = 1 << 0;
/** Reads as zero. */
export const NBD_STATE_ZERO = 1 << 1;
/** qemu:dirty-bitmap status bit (qemu docs/interop/nbd.txt). */
export const NBD_STATE_DIRTY = 1 << 0;

/** Error values (spec: Error values), by name. */
export const NBD_ERRNO = {
  NBD_EPERM: 1,
  NBD_EIO: 5,
  NBD_ENOMEM: 12,
  NBD_EINVAL: 22,
  NBD_ENOSPC: 28,
  NBD_EOVERFLOW: 75,
  NBD_ENOTSUP: 95,
  NBD_ESHUTDOWN: 108,
} as const;

/** Sizes of fixed wire headers, in bytes. */
export const REQUEST_HEADER_SIZE = 28;
/** Simple reply header size. */
export const SIMPLE_REPLY_HEADER_SIZE = 16;
/** Structured reply chunk header size. */
export const STRUCTURED_REPLY_HEADER_SIZE = 20;
/** Option reply header size. */
export const OPTION_REPLY_HEADER_SIZE = 20;
/** Maximum string length the spec lets either side send (names, messages). */
export const NBD_MAX_STRING = 4096;
