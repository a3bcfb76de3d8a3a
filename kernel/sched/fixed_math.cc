// Integer exp2/log2 and 128-bit division (see fixed_math.h).
#include <sched/fixed_math.h>

#include <lib/assert.h>

namespace sched::math {

// 2^(j/256), j = 0..255, Q63.
const uint64_t kExp2Table[256] = {
    0x8000000000000000ull, 0x8058d7d2d5e5f6b1ull, 0x80b1ed4fd999ab6cull, 0x810b40a1d81406d4ull,
    0x8164d1f3bc030773ull, 0x81bea1708dde6056ull, 0x8218af4373fc25ecull, 0x8272fb97b2a5894cull,
    0x82cd8698ac2ba1d7ull, 0x83285071e0fc4547ull, 0x8383594eefb6ee37ull, 0x83dea15b9541b132ull,
    0x843a28c3acde4046ull, 0x8495efb3303efd30ull, 0x84f1f656379c1a29ull, 0x854e3cd8f9c8c95dull,
    0x85aac367cc487b15ull, 0x86078a2f23642a9full, 0x8664915b923fba04ull, 0x86c1d919caef5c88ull,
    0x871f61969e8d1010ull, 0x877d2afefd4e256cull, 0x87db357ff698d792ull, 0x88398146b919f1d4ull,
    0x88980e8092da8527ull, 0x88f6dd5af155ac6bull, 0x8955ee03618e5fddull, 0x89b540a7902557a4ull,
    0x8a14d575496efd9aull, 0x8a74ac9a79896e47ull, 0x8ad4c6452c728924ull, 0x8b3522a38e1e1032ull,
    0x8b95c1e3ea8bd6e7ull, 0x8bf6a434adde0085ull, 0x8c57c9c4646f4ddeull, 0x8cb932c1bae97a95ull,
    0x8d1adf5b7e5ba9e6ull, 0x8d7ccfc09c50e2f8ull, 0x8ddf042022e69cd6ull, 0x8e417ca940e35a01ull,
    0x8ea4398b45cd53c0ull, 0x8f073af5a2013520ull, 0x8f6a8117e6c8e5c4ull, 0x8fce0c21c6726481ull,
    0x9031dc431466b1dcull, 0x9095f1abc540ca6bull, 0x90fa4c8beee4b12bull, 0x915eed13c89689d3ull,
    0x91c3d373ab11c336ull, 0x9228ffdc10a051adull, 0x928e727d9531f9acull, 0x92f42b88f673aa7cull,
    0x935a2b2f13e6e92cull, 0x93c071a0eef94bc1ull, 0x9426ff0fab1c04b6ull, 0x948dd3ac8ddb7ed3ull,
    0x94f4efa8fef70961ull, 0x955c5336887894d5ull, 0x95c3fe86d6cc7fefull, 0x962bf1cbb8d97560ull,
    0x96942d3720185a00ull, 0x96fcb0fb20ac4ba3ull, 0x97657d49f17ab08eull, 0x97ce9255ec4357abull,
    0x9837f0518db8a96full, 0x98a1976f7597e996ull, 0x990b87e266c189aaull, 0x9975c1dd47518c77ull,
    0x99e0459320b7fa65ull, 0x9a4b13371fd166caull, 0x9ab62afc94ff864aull, 0x9b218d16f441d63dull,
    0x9b8d39b9d54e5539ull, 0x9bf93118f3aa4cc1ull, 0x9c6573682ec32c2dull, 0x9cd200db8a0774cbull,
    0x9d3ed9a72cffb751ull, 0x9dabfdff6367a2aaull, 0x9e196e189d472420ull, 0x9e872a276f0b98ffull,
    0x9ef5326091a111aeull, 0x9f6386f8e28ba651ull, 0x9fd228256400dd06ull, 0xa041161b3d0121beull,
    0xa0b0510fb9714fc2ull, 0xa11fd9384a344cf7ull, 0xa18faeca8544b6e4ull, 0xa1ffd1fc25cea188ull,
    0xa27043030c496819ull, 0xa2e102153e918f9eull, 0xa3520f68e802bb93ull, 0xa3c36b345991b47cull,
    0xa43515ae09e6809eull, 0xa4a70f0c95768ec5ull, 0xa5195786be9ef339ull, 0xa58bef536dbeb6eeull,
    0xa5fed6a9b15138eaull, 0xa6720dc0be08a20cull, 0xa6e594cfeee86b1eull, 0xa7596c0ec55ff55bull,
    0xa7cd93b4e965356aull, 0xa8420bfa298f70d1ull, 0xa8b6d5167b320e09ull, 0xa92bef41fa77771bull,
    0xa9a15ab4ea7c0ef8ull, 0xaa1717a7b5693979ull, 0xaa8d2652ec907629ull, 0xab0386ef48868de1ull,
    0xab7a39b5a93ed337ull, 0xabf13edf162675e9ull, 0xac6896a4be3fe929ull, 0xace0413ff83e5d04ull,
    0xad583eea42a14ac6ull, 0xadd08fdd43d01491ull, 0xae493452ca35b80eull, 0xaec22c84cc5c9465ull,
    0xaf3b78ad690a4375ull, 0xafb51906e75b8661ull, 0xb02f0dcbb6e04584ull, 0xb0a957366fb7a3c9ull,
    0xb123f581d2ac2590ull, 0xb19ee8e8c94feb09ull, 0xb21a31a66618fe3bull, 0xb295cff5e47db4a4ull,
    0xb311c412a9112489ull, 0xb38e0e38419fae18ull, 0xb40aaea2654b9841ull, 0xb487a58cf4a9c180ull,
    0xb504f333f9de6484ull, 0xb58297d3a8b9f0d2ull, 0xb60093a85ed5f76cull, 0xb67ee6eea3b22b8full,
    0xb6fd91e328d17791ull, 0xb77c94c2c9d725e9ull, 0xb7fbefca8ca41e7cull, 0xb87ba337a1743834ull,
    0xb8fbaf4762fb9ee9ull, 0xb97c143756844dbfull, 0xb9fcd2452c0b9debull, 0xba7de9aebe5fea09ull,
    0xbaff5ab2133e45fbull, 0xbb81258d5b704b6full, 0xbc034a7ef2e9fb0dull, 0xbc85c9c560e7b269ull,
    0xbd08a39f580c36bfull, 0xbd8bd84bb67ed483ull, 0xbe0f6809860993e2ull, 0xbe935317fc378238ull,
    0xbf1799b67a731083ull, 0xbf9c3c248e2486f8ull, 0xc0213aa1f0d08db0ull, 0xc0a6956e8836ca8dull,
    0xc12c4cca66709456ull, 0xc1b260f5ca0fbb33ull, 0xc238d2311e3d6673ull, 0xc2bfa0bcfad907c9ull,
    0xc346ccda24976407ull, 0xc3ce56c98d21b15dull, 0xc4563ecc5334cb33ull, 0xc4de8523c2c07baaull,
    0xc5672a115506daddull, 0xc5f02dd6b0bbc3d9ull, 0xc67990b5aa245f79ull, 0xc70352f04336c51eull,
    0xc78d74c8abb9b15dull, 0xc817f681416452b2ull, 0xc8a2d85c8ffe2c45ull, 0xc92e1a9d517f0eccull,
    0xc9b9bd866e2f27a3ull, 0xca45c15afcc72624ull, 0xcad2265e4290774eull, 0xcb5eecd3b38597c9ull,
    0xcbec14fef2727c5dull, 0xcc799f23d11510e5ull, 0xcd078b86503dcdd2ull, 0xcd95da6a9ff06445ull,
    0xce248c151f8480e4ull, 0xceb3a0ca5dc6a55dull, 0xcf4318cf191918c1ull, 0xcfd2f4683f94eeb5ull,
    0xd06333daef2b2595ull, 0xd0f3d76c75c5db8dull, 0xd184df6251699ac6ull, 0xd2164c023056bcabull,
    0xd2a81d91f12ae45aull, 0xd33a5457a3029054ull, 0xd3ccf099859ac379ull, 0xd45ff29e0972c561ull,
    0xd4f35aabcfedfa1full, 0xd5872909ab75d18aull, 0xd61b5dfe9f9bce07ull, 0xd6aff9d1e13ba2feull,
    0xd744fccad69d6af4ull, 0xd7da67311797f56aull, 0xd870394c6db32c84ull, 0xd9067364d44a929cull,
    0xd99d15c278afd7b6ull, 0xda3420adba4d8704ull, 0xdacb946f2ac9cc72ull, 0xdb63714f8e295255ull,
    0xdbfbb797daf23755ull, 0xdc9467913a4f1c92ull, 0xdd2d818508324c20ull, 0xddc705bcd378f7f0ull,
    0xde60f4825e0e9124ull, 0xdefb4e1f9d1037f2ull, 0xdf9612deb8f04420ull, 0xe031430a0d99e627ull,
    0xe0ccdeec2a94e111ull, 0xe168e6cfd3295d23ull, 0xe2055afffe83d369ull, 0xe2a23bc7d7d91226ull,
    0xe33f8972be8a5a51ull, 0xe3dd444c46499619ull, 0xe47b6ca0373da88dull, 0xe51a02ba8e26d681ull,
    0xe5b906e77c8348a8ull, 0xe658797368b3a717ull, 0xe6f85aaaee1fce22ull, 0xe798aadadd5b9cbfull,
    0xe8396a503c4bdc68ull, 0xe8da9958464b42abull, 0xe97c38406c4f8c57ull, 0xea1e4756550eb27bull,
    0xeac0c6e7dd24392full, 0xeb63b74317369840ull, 0xec0718b64c1cbddcull, 0xecaaeb8ffb03ab41ull,
    0xed4f301ed9942b84ull, 0xedf3e6b1d418a491ull, 0xee990f980da3025bull, 0xef3eab20e032bc6bull,
    0xefe4b99bdcdaf5cbull, 0xf08b3b58cbe8b76aull, 0xf13230a7ad094509ull, 0xf1d999d8b7708cc1ull,
    0xf281773c59ffb13aull, 0xf329c9233b6bae9cull, 0xf3d28fde3a641a5bull, 0xf47bcbbe6db9fddfull,
    0xf5257d152486cc2cull, 0xf5cfa433e6537290ull, 0xf67a416c733f846eull, 0xf7255510c4288239ull,
    0xf7d0df730ad13bb9ull, 0xf87ce0e5b2094d9cull, 0xf92959bb5dd4ba74ull, 0xf9d64a46eb939f35ull,
    0xfa83b2db722a033aull, 0xfb3193cc4227c3f4ull, 0xfbdfed6ce5f09c49ull, 0xfc8ec01121e447bbull,
    0xfd3e0c0cf486c175ull, 0xfdedd1b496a89f35ull, 0xfe9e115c7b8f884cull, 0xff4ecb59511ec8a5ull,
};

namespace {

// For the log: the bucket centres c_j = 1 + (j + 1/2)/128, j = 0..127, as 1/c_j (Q64) and
// log2(c_j) (Q64).
const uint64_t kRecipTable[128] = {
    0xff00ff00ff00ff01ull, 0xfd08e5500fd08e55ull, 0xfb18856506ddaba6ull, 0xf92fb2211855a865ull,
    0xf74e3fc22c700f75ull, 0xf57403d5d00f5740ull, 0xf3a0d52cba872336ull, 0xf1d48bcee0d399faull,
    0xf00f00f00f00f00full, 0xee500ee500ee500full, 0xec979118f3fc4da2ull, 0xeae56403ab95900full,
    0xe939651fe2d8d35cull, 0xe79372e225fe30d9ull, 0xe5f36cb00e5f36cbull, 0xe45932d7dc52100eull,
    0xe2c4a6886a4c2e10ull, 0xe135a9c97500e136ull, 0xdfac1f74346c575full, 0xde27eb2c41f3d9d1ull,
    0xdca8f158c7f91ab8ull, 0xdb2f171df7702919ull, 0xd9ba4256c0366e91ull, 0xd84a598ec9151f43ull,
    0xd6df43fca482f00dull, 0xd578e97c3f5fe551ull, 0xd4173289870ac52eull, 0xd2ba083b445250abull,
    0xd161543e28e50274ull, 0xd00d00d00d00d00dull, 0xcebcf8bb5b4169cbull, 0xcd712752a886d242ull,
    0xcc29786c7607f99full, 0xcae5d85f1bbd6c95ull, 0xc9a633fcd967300dull, 0xc86a78900c86a789ull,
    0xc73293d789b9f838ull, 0xc5fe740317f9d00cull, 0xc4ce07b00c4ce07bull, 0xc3a13de60495c773ull,
    0xc2780613c0309e02ull, 0xc152500c152500c1ull, 0xc0300c0300c0300cull, 0xbf112a8ad278e8ddull,
    0xbdf59c91700bdf5aull, 0xbcdd535db1cc5b7bull, 0xbbc8408cd63069a1ull, 0xbab656100bab6561ull,
    0xb9a7862a0ff46588ull, 0xb89bc36ce3e0453aull, 0xb79300b79300b793ull, 0xb68d31340e4307d8ull,
    0xb58a485518d1e7e4ull, 0xb48a39d44685fe97ull, 0xb38cf9b00b38cf9bull, 0xb2927c29da5519cfull,
    0xb19ab5c45606f00bull, 0xb0a59b418d749d53ull, 0xafb321a1496fdf0eull, 0xaec33e1f671529a5ull,
    0xadd5e6323fd48a86ull, 0xaceb0f891e6551bbull, 0xac02b00ac02b00acull, 0xab1cbdd3e2970f60ull,
    0xaa392f35dc17f00bull, 0xa957fab5402a55ffull, 0xa87917088e262b6full, 0xa79c7b16ea64d422ull,
    0xa6c21df6e1625c80ull, 0xa5e9f6ed347f0721ull, 0xa513fd6bb00a5140ull, 0xa44029100a440291ull,
    0xa36e71a2cb033128ull, 0xa29ecf163bb6500aull, 0xa1d139855f7268eeull, 0xa105a932f2ca891full,
    0xa03c1688732b3032ull, 0x9f747a152d7836d0ull, 0x9eaecc8d53ae2ddfull, 0x9deb06c9194aa416ull,
    0x9d2921c3d6411308ull, 0x9c69169b30446dfaull, 0x9baade8e4a2f6e10ull, 0x9aee72fcf957c10full,
    0x9a33cd67009a33cdull, 0x997ae76b50efd00aull, 0x98c3bac74f5db00aull, 0x980e4156201301c8ull,
    0x975a750ff68a58afull, 0x96a850096a850097ull, 0x95f7cc72d1b887e9ull, 0x9548e4979e0829fdull,
    0x949b92ddc02526e5ull, 0x93efd1c50e726b7cull, 0x93459be6b009345aull, 0x929cebf48bbd90e5ull,
    0x91f5bcb8bb02d9cdull, 0x9150091500915009ull, 0x90abcc0242af3009ull, 0x9009009009009009ull,
    0x8f67a1e3fdc26178ull, 0x8ec7ab397255e41dull, 0x8e2917e0e702c6cdull, 0x8d8be33f95d71590ull,
    0x8cf008cf008cf009ull, 0x8c55841c815ed5caull, 0x8bbc50c8deb420c0ull, 0x8b246a87e19008b2ull,
    0x8a8dcd1feeae465cull, 0x89f87469a23920e0ull, 0x89645c4f6e055decull, 0x88d180cd3a4133d7ull,
    0x883fddf00883fddfull, 0x87af6fd5992d0d40ull, 0x872032ac13008720ull, 0x869222b1acf1ce96ull,
    0x86053c345a0b8473ull, 0x85797b917765ab89ull, 0x84eedd357c1b0085ull, 0x84655d9bab2f1008ull,
    0x83dcf94dc7570ce1ull, 0x8355ace3c897db10ull, 0x82cf750393ac3319ull, 0x824a4e60b3262bc5ull,
    0x81c635bc123fdf8eull, 0x814327e3b94f462full, 0x80c121b28bd1ba98ull, 0x8040201008040201ull,
};
const uint64_t kLog2Table[128] = {
    0x01709c46d7aac775ull, 0x044d8c45ea5ec313ull, 0x0724d8eea143e19aull, 0x09f6984a342d1310ull,
    0x0cc2dfe1a4a8ca30ull, 0x0f89c4c19929cfd1ull, 0x124b5b7e135a3c8aull, 0x1507b836033bb6d5ull,
    0x17beee96b8a2813cull, 0x1a7111df348493ebull, 0x1d1e34e35b82da4dull, 0x1fc66a0f0b00a490ull,
    0x2269c369120c5bfeull, 0x250852960f4c7f1bull, 0x27a228db3514c7e0ull, 0x2a375720f4b91491ull,
    0x2cc7edf592262cfaull, 0x2f53fd8fa0bbbde3ull, 0x31db95d06a56d76cull, 0x345ec6464170d594ull,
    0x36dd9e2ebf2bd2d8ull, 0x39582c78ee1b912eull, 0x3bce7fc762901dc3ull, 0x3e40a672411e4e8full,
    0x40aeae8934198eecull, 0x4318a5d550aa3a94ull, 0x457e99daec23fd66ull, 0x47e097db62384cb0ull,
    0x4a3eacd6cc9a0d8cull, 0x4c98e58daca0d66cull, 0x4eef4e828773ea56ull, 0x5141f3fb753f0e53ull,
    0x5390e203a3eda7efull, 0x55dc246ccde32ac4ull, 0x5823c6d0a522b65cull, 0x5a67d4923352e1a3ull,
    0x5ca858df2f060a51ull, 0x5ee55eb146ab115eull, 0x611ef0cf6186371full, 0x635519ced70dc6adull,
    0x6587e4149d026e34ull, 0x67b759d66c977e23ull, 0x69e3851bdefbd14aull, 0x6c0c6fbf8190d19aull,
    0x6e32236fe219e65dull, 0x7054a9b0932b9701ull, 0x72740bdb291ecf4eull, 0x749053202fc9f548ull,
    0x76a98888193ee405ull, 0x78bfb4f425ca6038ull, 0x7ad2e11f456f3950ull, 0x7ce3159ef3150344ull,
    0x7ef05ae409a0288full, 0x80fab93b9326ff92ull, 0x830238cf927591f5ull, 0x8506e1a7c70fde00ull,
    0x8708bbaa6be0889dull, 0x8907ce9cf0c0396aull, 0x8b042224af00303cull, 0x8cfdbdc799210b8bull,
    0x8ef4a8ece5dd30c4ull, 0x90e8eaddb6acd18bull, 0x92da8ac5b9e822b4ull, 0x94c98fb3c8ab0290ull,
    0x96b6009a809c0325ull, 0x989fe450d9b791d0ull, 0x9a874192b83ec743ull, 0x9c6c1f017ae84941ull,
    0x9e4e832485709116ull, 0xa02e7469c7a5df5full, 0xa20bf926410b256eull, 0xa3e71796812c371aull,
    0xa5bfd5df24bcabe3ull, 0xa7963a0d4f99f3bbull, 0xa96a4a1723c84a78ull, 0xab3c0bdc358163d9ull,
    0xad0b8525fc6ae15eull, 0xaed8bba84209e24eull, 0xb0a3b5018d8844ceull, 0xb26c76bb8cdf7cc4ull,
    0xb433064b7b7c39bcull, 0xb5f76912866d705cull, 0xb7b9a45e2e30bd34ull, 0xb979bd68a62d7e5dull,
    0xbb37b95931ef6e6full, 0xbcf39d448030fe26ull, 0xbead6e2d03c52202ull, 0xc06531034a6fc649ull,
    0xc21aeaa651bb9dbeull, 0xc3ce9fe3d9db85f3ull, 0xc5805578b6a5470bull, 0xc73010111eb3043full,
    0xc8ddd448f8b845a6ull, 0xca89a6ac27171b3aull, 0xcc338bb6d1c1742aull, 0xcddb87d5ae726421ull,
    0xcf819f66474ab28eull, 0xd125d6b73fdbb557ull, 0xd2c8320898ab212full, 0xd468b58bf13a2596ull,
    0xd6076564c899d942ull, 0xd7a445a8bc96ad5cull, 0xd93f5a5fc7845237ull, 0xdad8a7847cb32f34ull,
    0xdc703104439848eaull, 0xde05fabf91b02c8full, 0xdf9a088a232535e7ull, 0xe12c5e2b3241455cull,
    0xe2bcff5dadb2be89ull, 0xe44befd06dac6c3aull, 0xe5d9332667e7ad76ull, 0xe764ccf6e29017ebull,
    0xe8eec0cda61f8649ull, 0xea77122b2e315597ull, 0xebfdc484d953623dull, 0xed82db4517db253eull,
    0xef0659cb99c52334ull, 0xf088436d7ba4b14full, 0xf2089b7572a9e8d7ull, 0xf3876523f7c37731ull,
    0xf504a3af71e1cf72ull, 0xf6805a445f611ab8ull, 0xf7fa8c057e9f1e32ull, 0xf9733c0bf5c22856ull,
    0xfaea6d6779b5f2e8ull, 0xfc60231e74634473ull, 0xfdd4602e2a26f9fdull, 0xff47278ade8d012full,
};

// (a·b) >> 63 for signed Q63 values.
int64_t mul_q63(int64_t a, int64_t b) { return int64_t((__int128(a) * b) >> 63); }

} // namespace

int64_t log2_q32(u128 x)
{
    if (x == 0)
        return INT64_MIN;
    int k = 127 - clz128(x);
    uint64_t m = uint64_t((x << (127 - k)) >> 64); // Q63, [1, 2)
    uint64_t j = (m >> 56) & 127;
    // z = m/c_j − 1, |z| < 1/256 (Q63, signed); m·(1/c_j) is Q127, its high half Q63.
    int64_t z = int64_t(mul_hi(m, kRecipTable[j]) - (uint64_t(1) << 63));
    constexpr int64_t kHalf = int64_t(1) << 62, kThird = 0x2aaaaaaaaaaaaaabll; // Q63
    constexpr int64_t kLog2e = 0x5c551d94ae0bf85ell;                           // log2 e, Q62
    // ln(1 + z) ≈ z − z·z·(1/2 − z/3); times log2 e.
    int64_t t = mul_q63(z, mul_q63(z, kHalf - mul_q63(z, kThird)));
    int64_t log2_1z = int64_t((__int128(z - t) * kLog2e) >> 62); // Q63
    int64_t frac = int64_t(kLog2Table[j] >> 1) + log2_1z;       // Q63, log2(m) in [0, 1)
    return (int64_t(k) << 32) + (frac >> 31);
}

uint64_t div_u128(u128 n, uint64_t d)
{
    NIMBUS_ASSERT(d != 0 && (n >> 64) < d); // the quotient fits 64 bits
    u128 rem = n >> 64;
    uint64_t lo = uint64_t(n), q = 0;
    for (int i = 63; i >= 0; i--) {
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if (rem >= d) {
            rem -= d;
            q |= 1;
        }
    }
    return q;
}

} // namespace sched::math
