"""The compiled kernels of methods "exact" and "dstd" (circuitnet.solve.compiled) against their
pure-torch paths, and both against golden values of the implementation before the kernels existed:
spike times and every gradient (input times, weights, per-synapse reversal potentials, per-neuron
leak and bias, charge packets; RC-Spike and TTFS) to 1e-12 in float64.

GOLDEN was written by the pure-torch code of commit 2c828f2 (the last without compiled kernels)
from the cases below, whose inputs come from a fixed integer generator (not torch's RNG)."""
import contextlib
import math
import os
import shutil

import pytest
import torch

from circuitnet.solve import dstd as dstd_mod
from circuitnet.solve import exact as exact_mod
from circuitnet.solve import compiled as kernels
from circuitnet.solve.dstd import membrane_dstd, rc_spike_dstd, ttfs_dstd
from circuitnet.solve.exact import membrane_exact, rc_spike_exact, ttfs_exact
from closed_form import DISCHARGER, E_NEG, E_POS

F64 = torch.float64
HAVE_KERNELS = kernels.compiled_kernels() is not None
needs_kernels = pytest.mark.skipif(not HAVE_KERNELS, reason="compiled kernels unavailable")


def lcg(n, seed):
    """n floats in [0, 1) from a fixed linear congruential generator (independent of torch's RNG)."""
    x, out = (seed * 2654435761 + 12345) % 2**32, []
    for _ in range(n):
        x = (1664525 * x + 1013904223) % 2**32
        out.append(x / 2**32)
    return out


def tensor(n, seed, shape, lo=0.0, hi=1.0):
    return torch.tensor([lo + (hi - lo) * v for v in lcg(n, seed)], dtype=F64).reshape(shape)


def layer(seed, B=3, N=10, O=4, t_hi=1.0, w_scale=0.3, w_shift=0.1):
    t = tensor(B * N, seed, (B, N), 0.02, t_hi * 0.98)
    t[0, 1] = 0.0           # on from the start
    t[1, 2] = math.inf      # never arrives
    t[2, 3] = t_hi          # at the phase end
    w = tensor(O * N, seed + 1, (O, N), -w_scale, w_scale) + w_shift
    return t, w


def cases():
    """name -> (function of the leaves, leaves): the function returns the output spike times."""
    from circuitnet.solve.exact import rc_spike_exact, ttfs_exact
    from circuitnet.solve.dstd import rc_spike_dstd, ttfs_dstd
    out = {}
    t, w = layer(1)
    e_pos = tensor(40, 3, (4, 10), 1.5, 4.0)
    e_neg = torch.tensor(-1.53, dtype=F64)
    leak = tensor(4, 4, (4,), 0.0, 0.8)
    bias = torch.tensor(0.15, dtype=F64)
    jumps = tensor(40, 5, (4, 10), -0.03, 0.03)
    out["exact_rc"] = (lambda t, w, ep, en, lk, bs, j: rc_spike_exact(t, w, ep, en, lk, bs, fire_g=1.3, fire_f=0.4,
                                                                      jumps=j, fire_jump=0.02),
                       [t, w, e_pos, e_neg, leak, bias, jumps])
    t, w = layer(7, w_scale=3.0, w_shift=0.5)
    out["exact_rc_strong_unclipped"] = (lambda t, w, lk: rc_spike_exact(t, w, 1.3, -1.1, lk, 0.5, clip=False),
                                        [t, w, torch.tensor(2.0, dtype=F64)])
    t, w = layer(11, t_hi=1.5, w_scale=0.4, w_shift=0.5)
    out["exact_ttfs"] = (lambda t, w, lk, bs: ttfs_exact(t, w, 2.8, -1.53, 1.5, lk, bs)[0],
                         [t, w, tensor(4, 12, (4,), 0.0, 0.5), torch.tensor(0.2, dtype=F64)])
    t, w = layer(13)
    off = torch.tensor([0.0, 0.05, 0.099], dtype=F64)
    out["dstd_rc"] = (lambda t, w, ep, lk, j: rc_spike_dstd(t, w, ep, -1.53, 10, off, lk, 0.1, fire_g=1.3, fire_f=0.4,
                                                            jumps=j),
                      [t, w, tensor(40, 14, (4, 10), 1.5, 4.0), tensor(4, 15, (4,), 0.0, 0.8),
                       tensor(40, 16, (4, 10), -0.03, 0.03)])
    t, w = layer(17, t_hi=1.5, w_scale=0.4, w_shift=0.5)
    out["dstd_ttfs"] = (lambda t, w, lk: ttfs_dstd(t, w, 2.8, -1.53, 1.5, 8, 0.07, lk, 0.2)[0],
                        [t, w, tensor(4, 18, (4,), 0.0, 0.5)])
    return out


def evaluate(fn, leaves):
    """(output, gradients of sum(output * c) with respect to every leaf), c fixed."""
    leaves = [x.clone().requires_grad_() for x in leaves]
    y = fn(*leaves)
    c = tensor(y.numel(), 99, tuple(y.shape), 0.5, 1.5)
    grads = torch.autograd.grad((y * c).sum(), leaves)
    return [y.detach()] + list(grads)


GOLDEN = {  # name: [(shape, values) of the output, then of each gradient]
    'exact_rc': [
        ((3, 4),
         '0.8798468443577592 0.6526580186126645 0.6453714021010495 0.26079554404945327 0.9553599469764523 '
         '0.7492245412745595 0.6770657565099476 0.581363375103892 0.834238855314883 0.650557852195652 '
         '0.8187241331501075 0.521064519110097'),
        ((3, 10),
         '0.020161103971561442 0.30897544344400885 -0.04796470266685189 0.1164163604869625 0.31169811894045846 '
         '-0.022641741461713036 -0.18723811985644861 -0.4678040890683397 0.13177234691919765 '
         '0.3135597505469002 -0.07243256534823996 0.4471479049972475 -0.0 0.02096444350367166 '
         '0.3916571350875518 -0.16925858799581373 -0.1426637324777896 -0.2515010332472566 0.05766360112482778 '
         '0.1469332553894801 -0.025460722264192576 0.35848184471938827 -0.02382508811678949 '
         '0.09594588686771757 0.3488870072687413 -0.07483126407577506 -0.23337243857702938 -0.2976098535804266 '
         '0.05573702469892839 0.32043429160665277'),
        ((4, 10),
         '-0.8775184721142636 -0.9339530201576625 -0.5660269728703111 -0.7066728355548295 -0.787705704321569 '
         '-0.4224160278890992 -0.7747988553116755 -0.5830814778608032 -0.8674982910535012 -0.8360346135084984 '
         '-1.2021116658275686 -1.2455439733731026 -0.9537121001563271 -1.196344687942013 -1.0979987856861013 '
         '-0.7792998884380922 -1.0376720620242859 -0.9066672825244823 -1.004167468395485 -1.0841503500969916 '
         '-1.2345044296790308 -1.3109784438549605 -0.8879523823345574 -0.8337060104261506 -1.010560301066687 '
         '-0.5195826556655166 -0.993071249944437 -0.6284131251610497 -0.9164743102945972 -0.8365869281672886 '
         '-1.0445477132989223 -1.0277236423632774 -0.7381663500675385 -0.7687982451736437 -0.9132355950340711 '
         '-0.38151294800018 -1.1199268494690304 -0.66925369774194 -0.7507516698871113 -0.7513638439794823'),
        ((4, 10),
         '0.0 -1.1761464654399124e-05 -0.0001752803590924832 8.866797109606788e-05 0.0 0.0 0.0 0.0 0.0 0.0 '
         '-8.781240755529395e-05 -0.005886694636609276 0.0 0.0 -0.0054278800791076 0.0 -0.002513766086018837 '
         '0.0 -0.0028772142269297917 -0.001951221196159869 0.0 0.0 0.0 -0.001689907752715178 '
         '-0.011154003330046087 -0.00047631520298251507 0.0 0.0 0.0 -0.0029096076890511883 '
         '-0.006745376265681479 -0.02860420772612246 -0.0004114623062323768 -0.011744281683637794 '
         '-0.003086516181014711 -0.02041634770365369 0.0 0.0 -0.002824652571573699 -0.0010927479270054624'),
        ((), '0.09992250460248678'),
        ((4,), '0.002801945140472264 0.31986564501611814 0.15939924936127528 0.43467447222944366'),
        ((), '-6.974292358882986'),
        ((4, 10),
         '0.5312676516955879 0.8526575336920219 0.3122300259243964 0.42437210465352027 0.4794244729888084 '
         '0.3180667297924442 0.47658084112454335 0.3784339032044657 0.44271901626806387 0.466413451685483 '
         '1.2117121565262847 1.6919679839120838 0.7681452888834022 1.0210470775399343 1.1165473006710527 '
         '0.712272770039359 1.0847497689895795 0.7868744910965302 0.9543668678739636 1.0721185253355343 '
         '0.8926582643402761 1.4138975476350824 0.6275870682992091 0.6977766834834627 0.8495333063045034 '
         '0.4738629297651187 0.7267906619249236 0.46349795397620497 0.5788747876131464 0.6761803217802356 '
         '0.8174531360527373 1.4032492395872376 0.5725163540649247 0.6588700763561739 0.7762804852705494 '
         '0.4542991429825767 0.667356183429054 0.42477994384124074 0.5109464806720525 0.6093255526898842'),
    ],
    'exact_rc_strong_unclipped': [
        ((3, 4),
         '0.5454154567985012 0.6177595733470612 0.3082202655890416 0.7494686046557432 0.4349631148142378 '
         '0.5859289908880658 0.4081711889906937 0.5968014082374988 0.6331085688721874 0.8718232199129148 '
         '0.3398299148673878 0.49180822384279377'),
        ((3, 10),
         '-0.000945569934242532 0.0010146771130054326 0.0021349928621133135 0.004407544756393598 '
         '0.07494230666189383 0.008092774327920712 0.0002268137207250272 0.037868652052256896 '
         '-0.04058570262540393 -0.07206775337380249 -0.06444974247597646 0.029638625895219876 -0.0 '
         '0.037537740743106916 0.022036567415408582 0.048863965426812164 0.01946717951954723 '
         '-0.1357827655957093 -1.3218340162239544 -1.0189928574473421 -0.3933243920457394 0.000547477246136346 '
         '0.032778823935314505 1.9668217380693864 0.00394433105651682 0.0012811115915448363 '
         '0.0008445175134225226 0.0005914937027553215 -0.014251422523034386 -0.0010383750386383562'),
        ((4, 10),
         '-0.21338200838132482 -0.2165280927818085 -0.09889864448867076 -0.05893562442149224 '
         '-0.09062910833317916 -0.09065466013271978 -0.09054694900390062 -0.20338604437824578 '
         '-0.07885321476573506 -0.20735202950974513 -0.3820052721125013 -0.20688294982306338 '
         '-0.11062301698515023 -0.12698384869457624 -0.20659291096198412 -0.20635437606573967 '
         '-0.20538950930073427 -0.19393849537072597 -0.2980277591529312 -0.3611462172589104 '
         '-0.38843574328543384 -0.12697054252266893 -0.07432363428451226 -0.08237303788472555 '
         '-0.12573445447704357 -0.12618977333038608 -0.40302151651215407 -0.11568277755547662 '
         '-0.10600366764060024 -0.3754493082357059 -0.2017252236130721 -0.20880219316376944 '
         '-0.13537962152153746 -0.12220757904573304 -0.10402375106602255 -0.1046766602589504 '
         '-0.10462213069746859 -0.10023157997299939 -0.09338157581602849 -0.10163546971400336'),
        ((), '0.41802444218917273'),
    ],
    'exact_ttfs': [
        ((3, 4),
         '0.5332878545566556 0.616836089984314 0.5713605751526367 0.49523911633842754 0.9528278761502419 '
         '0.8300897762144148 0.9351038721212875 0.8371584915432035 0.7980601345361763 0.9172578165382208 '
         '0.8400250010579897 0.6308274619702363'),
        ((3, 10),
         '0.7315884475302666 0.7065540701203694 0.585935991355534 0.7225501667281031 0.7497302938918631 -0.0 '
         '0.5460730904359665 -0.0 -0.0 -0.0 0.7363400802768683 0.9051314887529525 -0.0 0.9405262823974763 -0.0 '
         '-0.0 -0.0 0.4736586042198655 0.463346276043436 -0.0 -0.0 0.948501236118994 -0.0 -0.0 '
         '0.3012582425638557 0.6991222401170035 0.5280825725651763 0.36573512960633664 -0.0 0.4776200142507449'),
        ((4, 10),
         '-0.33110606361270223 -0.48255063485838684 -0.10580341133021605 -0.18780525994675168 '
         '-0.043124065342640634 -0.18174268888516937 -0.2842212828773673 -0.4130438843210966 '
         '-0.25845561325445376 -0.16853091242035234 -0.3188059145648208 -0.5519498453918203 '
         '-0.19280736315129668 -0.19525594991296485 -0.10167183604414484 -0.21531418720092566 '
         '-0.35901924731430485 -0.3894671803151777 -0.20102416720110236 -0.20398961117783623 '
         '-0.23057255218972766 -0.5827157907185265 -0.18838787518266353 -0.18126829087361174 '
         '-0.08994594052813273 -0.2827995830833385 -0.4426755173488013 -0.29450534148650265 '
         '-0.14254078158399613 -0.26582437636581663 -0.11698898584813255 -0.26903117520559605 '
         '-0.10755759805588844 -0.08092785966214405 -0.03961141302560946 -0.10549462839983477 '
         '-0.19037609999902927 -0.11518290311997113 -0.07741591616161059 -0.09469183371057871'),
        ((4,), '0.4092149224055741 0.473367755914779 0.4787250825472829 0.22474620030795223'),
        ((), '-3.475543256899333'),
    ],
    'dstd_rc': [
        ((3, 4),
         '0.20587436716999843 0.5528639723029304 0.4834341124998282 0.6874480368001898 0.2149599849997728 '
         '0.4441657749248574 0.5733255348273615 0.7491385879593717 0.19970567665624783 0.617885745435906 '
         '0.49423384900683337 0.6640260114370071'),
        ((3, 10),
         '0.035696914659879564 -0.0 0.3941968405359247 0.19614176085996468 0.04280477899412629 '
         '0.32138272893692277 0.8039357817268138 0.3338972614434661 0.3430641837626939 0.07595764228279979 '
         '-0.032134834717186575 0.22342713179861096 -0.0 0.28862016932952783 -0.06701519055143573 '
         '0.390354411927861 0.644427316944583 0.40361493903594037 0.36274101910335116 0.19284360619957192 '
         '0.030233887140316742 0.29309406493149254 0.2935169010118365 -0.0 0.06723512008890532 '
         '0.295258247426309 0.4849758338243641 0.30848917345153715 0.37804174202871765 0.08107332125792059'),
        ((4, 10),
         '-1.842615674513239 -1.182116952344607 -0.3468029253955709 -0.8693862940703252 -0.7228814046446862 '
         '-1.2905048092817495 -0.5671690659045515 -1.0852792628606611 -0.8426483857582483 -0.9103653681522127 '
         '-1.83041325210982 -1.8619046283876624 -0.38872223805290557 -1.1694997115856374 -1.1511060258814978 '
         '-1.4586785664041615 -0.6965446858733954 -1.259156161764696 -1.0135069997092967 -1.0664205004327612 '
         '-1.1960495889484783 -1.111596965127954 -0.4024549539253854 -0.8523789690748296 -0.8714725009548129 '
         '-1.1732507592710837 -0.5988545035573933 -1.208245089387525 -0.7811700859102945 -1.0861053527279054 '
         '-0.9470292416902869 -0.9202033872949962 -0.33242513862522544 -0.8680606018648743 -0.6996034821087201 '
         '-1.1255190369211636 -0.4874353953747614 -0.7395801699242913 -0.7865209579128438 -0.792629527599053'),
        ((4, 10),
         '0.0 -0.01286132191125417 -0.0057867390564941895 -0.0038534375822014424 -0.0069835331695296465 '
         '-0.01596159908968105 -0.008013823039121754 -0.014760244908242178 -0.012603740382270755 '
         '-0.007497834706883576 0.0 0.0 -0.0005594665990884809 -0.008918221877364912 0.0 -0.007635158373113519 '
         '-0.00627455442658064 -0.009351344134886379 -0.005149445359404663 -0.007811208183755636 '
         '-0.006293654220321328 -0.003871882295581364 -0.0012898844703112414 -0.0006695918424505325 '
         '-0.004053279051035472 -0.007199918070239544 -0.004331934230787207 0.0 -0.006390182355285705 0.0 '
         '-0.0013285913616316967 -0.004171946625311609 -0.0017078023008919984 0.0 -0.0003741214023118596 0.0 '
         '-0.002760843077626672 -0.0035633327271486995 0.0 0.0'),
        ((4,), '0.6864490838390076 0.4531318356607196 0.3457982914815497 0.21270289626708086'),
        ((4, 10),
         '0.9293354307744577 1.2947478768654532 0.3168844917331489 0.6701489516607153 0.5943305575083877 '
         '0.9815375130894086 0.5267562538864881 0.8680197354669728 0.7197649388972656 0.7811695178831927 '
         '1.4787815284813624 1.9351729144264818 0.4528124206352624 1.1673561146871754 0.973516660438627 '
         '1.5217947659962183 0.7975604577016023 1.3257865787247223 1.150057674861591 1.1611593092053263 '
         '1.2964085200476276 1.6497493875053368 0.492688158745332 0.9066327891618057 0.9901149725645058 '
         '1.2813382288908426 0.7099332415403399 1.0524031375678449 0.9029416522492703 0.9433030701930012 '
         '1.0226695238902284 1.3394140761958373 0.4069790866171495 0.7241536600526308 0.7840486031578997 '
         '1.0092826885258397 0.5791934054392998 0.8325247654955961 0.708296510004846 0.7568528726704575'),
    ],
    'dstd_ttfs': [
        ((3, 4),
         '0.7773178346354241 0.7631303678759969 0.7796504303516238 0.9283549485097838 1.0067264944475225 '
         '0.8450877591467143 0.7940652514844105 0.9945830757544423 0.643304542381968 0.6214835798826788 '
         '0.7977468819307096 0.7010249663610395'),
        ((3, 10),
         '0.9616364948376286 0.586948403196318 -0.0 0.037918672091809616 -0.0 1.1957197877279129 '
         '0.9173837477961212 -0.0 0.11665299942531693 0.44853922704002824 0.6829020643158202 '
         '0.42072296490397815 -0.0 0.5448932271565532 0.4119612418612445 0.8760527249452764 -0.0 '
         '0.24245291481535639 -0.0 0.5565103177796284 0.5208922128983196 -0.0 0.47615315983814305 -0.0 '
         '0.3091412926626589 0.6833235038029681 0.5441085224070745 -0.0 0.5755709187239063 0.35532401826600035'),
        ((4, 10),
         '-0.4915204642875063 -0.5695250602660278 -0.06751329164029723 -0.20776973837976875 '
         '-0.23970142633784536 -0.2650383032537328 -0.24878416446951654 -0.15221094040986066 '
         '-0.12320582959843314 -0.11604977273990119 -0.42067480608234337 -0.6129920378557157 '
         '-0.06267856319840055 -0.12137514273068573 -0.15098575177366771 -0.22936541378065176 '
         '-0.3754525481145041 -0.06942545100077774 -0.11905223462185616 -0.04126170848585489 '
         '-0.3196433480703873 -0.4490454238782086 -0.13041657072607332 -0.044005155020392844 '
         '-0.09893736863324437 -0.2611059546061308 -0.4309023531227679 -0.021704254672425184 '
         '-0.19835512789427417 -0.07720818553358283 -0.415066635927415 -0.5979915258682346 '
         '-0.09506327198120315 -0.10312110546406908 -0.11936976801345883 -0.33223069790770055 '
         '-0.48126451643221124 -0.06640917459095658 -0.16872874554709819 -0.10831863960778204'),
        ((4,), '0.43128544595536966 0.4343361279947274 0.3798357977004178 0.42875144793276887'),
    ],
}


@contextlib.contextmanager
def torch_path(disabled=True):
    """Run the solvers on their pure-torch path (disabled=True) or compiled (where available)."""
    prev = kernels.set_compiled_kernels(not disabled)
    try:
        yield
    finally:
        kernels.set_compiled_kernels(prev)


def assert_close(got, ref, tol=1e-12, what=""):
    """|got - ref| <= tol * max(1, max |ref|), element-wise (inf where ref is inf)."""
    assert got.shape == ref.shape, what
    fin = torch.isfinite(ref)
    assert torch.equal(fin, torch.isfinite(got)) and torch.equal(got[~fin], ref[~fin]), what
    scale = max(1.0, ref[fin].abs().max().item()) if fin.any() else 1.0
    err = (got[fin] - ref[fin]).abs().max().item() if fin.any() else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} x {scale:.3g}"


def _unpack(entry):
    return [torch.tensor([float(v) for v in vals.split()], dtype=F64).reshape(shape) for shape, vals in entry]


# --------------------------------------------------------------------------------- the build
def test_kernels_build_where_a_compiler_exists():
    if not (os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")):
        pytest.skip("no C++ compiler: the solvers keep to their pure-torch path")
    if os.environ.get("CIRCUITNET_KERNELS") == "0":
        pytest.skip("compiled kernels disabled by CIRCUITNET_KERNELS=0")
    assert HAVE_KERNELS, kernels.build_error()


def test_a_failed_build_warns_and_leaves_the_torch_path(tmp_path):
    """A compiler that fails (here CXX=false, empty cache): one RuntimeWarning, then the same results."""
    import subprocess
    import sys
    code = ("import warnings, torch; from circuitnet.solve.exact import rc_spike_exact\n"
            "t = torch.rand(2, 5, dtype=torch.float64); w = torch.rand(3, 5, dtype=torch.float64) - 0.3\n"
            "with warnings.catch_warnings(record=True) as rec:\n"
            "    warnings.simplefilter('always')\n"
            "    a = rc_spike_exact(t, w, 2.8, -1.53); b = rc_spike_exact(t, w, 2.8, -1.53)\n"
            "from circuitnet.solve import compiled as kernels\n"
            "assert kernels.compiled_kernels() is None and torch.equal(a, b)\n"
            "print(sum('compiled kernels unavailable' in str(r.message) for r in rec))\n")
    env = dict(os.environ, CXX="false", CIRCUITNET_KERNEL_CACHE=str(tmp_path), TMPDIR=str(tmp_path))
    env.pop("CIRCUITNET_KERNELS", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "1"


def test_torch_path_is_taken_when_disabled(monkeypatch):
    """set_compiled_kernels(False) (or CIRCUITNET_KERNELS=0): the pure-torch path, which never calls the library."""
    with torch_path():
        assert kernels.compiled_kernels() is None
        monkeypatch.setattr(exact_mod, "_kernel_forward", None)        # would fail if called
        monkeypatch.setattr(dstd_mod, "hat_spread", None)
        t, w = layer(3)
        rc_spike_exact(t, w, E_POS, E_NEG)
        rc_spike_dstd(t, w, E_POS, E_NEG, 5)


# --------------------------------------------------------------------------------- golden values
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "torch"])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values_of_the_implementation_before_the_kernels(name, compiled):
    if compiled and not HAVE_KERNELS:
        pytest.skip("compiled kernels unavailable")
    fn, leaves = cases()[name]
    with torch_path(not compiled):
        got = evaluate(fn, leaves)
    for i, (g, r) in enumerate(zip(got, _unpack(GOLDEN[name]))):
        assert_close(g, r, what=f"{name} {'output' if i == 0 else f'gradient {i}'}")


# ------------------------------------------------------------------ compiled against torch path
def _both(fn, leaves, tol=1e-12):
    with torch_path():
        ref = evaluate(fn, leaves)
    got = evaluate(fn, leaves)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert_close(g, r, tol, what="output" if i == 0 else f"gradient {i}")
    return ref


def edge_layer(seed, B=4, N=60, O=7, scale=0.15, shift=0.0, t_hi=1.0):
    """Times with ties (simultaneous inputs), spikes at 0 and at the phase end, +inf."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(B, N, generator=g, dtype=F64) * t_hi
    t[0, 3] = t[0, 4] = t[0, 5]
    t[1, :4] = 0.0
    t[2, 6] = t_hi
    t[2, 7] = math.inf
    t[3, 8] = 0.0
    w = (torch.rand(O, N, generator=g, dtype=F64) * 2 - 1) * scale + shift / N
    return t, w


def _exact_cases():
    t, w = edge_layer(0, shift=1.0)
    g = torch.Generator().manual_seed(1)
    O, N = w.shape
    e_pos = 1 + 3 * torch.rand(O, N, generator=g, dtype=F64)
    e_neg = -1 - 3 * torch.rand(O, N, generator=g, dtype=F64)
    leak, bias = torch.rand(O, generator=g, dtype=F64), torch.rand(O, generator=g, dtype=F64) - 0.5
    jumps = (torch.rand(O, N, generator=g, dtype=F64) - 0.5) * 0.02
    t_stop = torch.rand(4, 9, generator=g, dtype=F64) * 2
    t2, w2 = edge_layer(2, O=9, scale=0.4, shift=5.0, t_hi=2.0)
    sc = lambda x: torch.tensor(x, dtype=F64)  # noqa: E731
    return {
        "ramp": (lambda t, w, ep, en: rc_spike_exact(t, w, ep, en), [t, w, sc(E_POS), sc(E_NEG)]),
        "discharger": (lambda t, w: rc_spike_exact(t, w, E_POS, E_NEG, **DISCHARGER), [t, w]),
        "per-neuron leak and bias": (lambda t, w, lk, bs: rc_spike_exact(t, w, E_POS, E_NEG, lk, bs, **DISCHARGER),
                                     [t, w, leak, bias]),
        "per-synapse E": (lambda t, w, ep, en: rc_spike_exact(t, w, ep, en, 0.2, 0.1), [t, w, e_pos, e_neg]),
        "charge packets": (lambda t, w, j: rc_spike_exact(t, w, E_POS, E_NEG, 0.2, jumps=j, fire_jump=0.01),
                           [t, w, jumps]),
        "packets unclipped": (lambda t, w, j: rc_spike_exact(t, w, E_POS, E_NEG, jumps=j, clip=False), [t, w, jumps]),
        "strong conductance (expm1 branch)": (lambda t, w, lk: membrane_exact(t, w, 1.3, -1.1, 1.0, lk, 0.5),
                                              [t, 20 * w, sc(2.0)]),
        "read-out times": (lambda t, w: membrane_exact(t, w, E_POS, E_NEG, 2.0, 0.3, 0.1, t_stop=t_stop), [t2, w2]),
        "ttfs": (lambda t, w, ep, lk: ttfs_exact(t, w, ep, E_NEG, 2.0, lk, 0.3)[0], [t2, w2, sc(E_POS), sc(0.4)]),
        "ttfs strong": (lambda t, w: ttfs_exact(t, w, E_POS, E_NEG, 2.0, 2.0, 0.3)[0], [t2, 5 * w2]),
    }


@needs_kernels
@pytest.mark.parametrize("name", list(_exact_cases()))
def test_compiled_exact_matches_torch_path(name):
    fn, leaves = _exact_cases()[name]
    _both(fn, leaves)


def _dstd_cases():
    t, w = edge_layer(4, shift=1.0)
    g = torch.Generator().manual_seed(5)
    O, N = w.shape
    e_pos = 1 + 3 * torch.rand(O, N, generator=g, dtype=F64)
    leak, bias = torch.rand(O, generator=g, dtype=F64), torch.rand(O, generator=g, dtype=F64) - 0.5
    jumps = (torch.rand(O, N, generator=g, dtype=F64) - 0.5) * 0.02
    off = torch.tensor([0.0, 0.05, 0.099, 0.02], dtype=F64)
    grid = (torch.arange(11, dtype=F64) / 10)[torch.randint(0, 11, (4, N), generator=g)]
    t2, w2 = edge_layer(6, O=9, scale=0.4, shift=5.0, t_hi=2.0)
    out = {f"M={M} offset={o}": (lambda t, w, M=M, o=o: rc_spike_dstd(t, w, E_POS, E_NEG, M, o), [t, w])
           for M, o in ((1, 0.0), (4, 0.1), (10, 0.0), (30, 0.01))}
    out.update({
        "per-sample offset": (lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 10, off), [t, w]),
        "leak, bias, per-synapse E": (lambda t, w, ep, lk, bs: rc_spike_dstd(t, w, ep, E_NEG, 7, 0.03, lk, bs,
                                                                              **DISCHARGER), [t, w, e_pos, leak, bias]),
        "charge packets": (lambda t, w, j: rc_spike_dstd(t, w, E_POS, E_NEG, 10, 0.02, 0.2, jumps=j), [t, w, jumps]),
        "inputs on grid points": (lambda t, w: membrane_dstd(t, w, E_POS, E_NEG, 10), [grid, w]),
        "ttfs": (lambda t, w, lk: ttfs_dstd(t, w, E_POS, E_NEG, 2.0, 12, 0.05, lk, 0.3)[0], [t2, w2, torch.tensor(0.4,
                                                                                                          dtype=F64)]),
    })
    return out


@needs_kernels
@pytest.mark.parametrize("name", list(_dstd_cases()))
def test_compiled_dstd_matches_torch_path(name):
    fn, leaves = _dstd_cases()[name]
    _both(fn, leaves)


@needs_kernels
def test_compiled_paths_at_benchmark_scale_float64_and_float32():
    """784 inputs, the benchmark's weights: float64 to 1e-12, float32 within float32 rounding."""
    g = torch.Generator().manual_seed(0)
    t = torch.rand(6, 784, generator=g, dtype=F64)
    w = torch.rand(40, 1, generator=g, dtype=F64) * (torch.rand(40, 784, generator=g, dtype=F64) - 0.35) * 8 / 784
    fns = {"exact": lambda t, w: rc_spike_exact(t, w, E_POS, E_NEG),
           "dstd": lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 10, 0.03)}
    for name, fn in fns.items():
        ref = _both(fn, [t, w])
        got32 = evaluate(lambda t, w: fn(t.float(), w.float()).double(), [t, w])
        for a, r in zip(got32, ref):
            assert_close(a, r, 2e-5, what=f"{name} float32")


@needs_kernels
@pytest.mark.parametrize("method", ["exact", "dstd"])
def test_kernel_calls_split_over_threads_agree(monkeypatch, method):
    """Several threads (each a block of neurons, exact, or of samples, dstd) give the one-thread results."""
    g = torch.Generator().manual_seed(8)
    t = torch.rand(5, 50, generator=g, dtype=F64)
    w = (torch.rand(37, 50, generator=g, dtype=F64) - 0.4) * 0.2
    jumps = (torch.rand(37, 50, generator=g, dtype=F64) - 0.5) * 0.02
    fn = ((lambda t, w, j: rc_spike_exact(t, w, E_POS, E_NEG, 0.1, jumps=j)) if method == "exact" else
          (lambda t, w, j: rc_spike_dstd(t, w, E_POS, E_NEG, 6, 0.01, jumps=j)))
    one = evaluate(fn, [t, w, jumps])
    monkeypatch.setattr(exact_mod, "kernel_threads", lambda work: 3)
    monkeypatch.setattr(dstd_mod, "kernel_threads", lambda work: 3)
    three = evaluate(fn, [t, w, jumps])
    for a, b in zip(three, one):
        assert_close(a, b)


@needs_kernels
def test_empty_shapes():
    for B, N, O in ((0, 5, 3), (2, 0, 3), (2, 5, 0)):
        t = torch.rand(B, N, dtype=F64)
        w = torch.rand(O, N, dtype=F64) - 0.3
        for fn in (lambda t, w: rc_spike_exact(t, w, E_POS, E_NEG), lambda t, w: rc_spike_dstd(t, w, E_POS, E_NEG, 4),
                   lambda t, w: ttfs_exact(t, w, E_POS, E_NEG, 1.5, 0.1, 0.2)[0]):
            with torch_path():
                ref = fn(t, w)
            assert torch.equal(fn(t, w), ref)


@needs_kernels
@pytest.mark.parametrize("circuit", ["quadratic", "user"])
def test_the_general_dstd_path_takes_the_sparse_hat_kernel_to_rounding(circuit):
    """DSTD's general path (circuitnet.solve.dstd_general) averages the drive by the same hat kernel: its
    compiled sparse sums against the dense GEMMs (torch path), spike times and gradients, with a grid that
    holds a switching time (the user circuit's clock edge) and charge packets."""
    import circuitnet as cn
    from circuitnet.solve import spike_times
    if circuit == "quadratic":
        c = cn.circuits.rc_spike_quadratic()
    else:
        gate = cn.NMOS("dis", I="130n", lam="0.177")
        c = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.Leak("leak", G="20n", V_to="1.3"),
                              cn.CapacitiveCoupling("kick", C="5f", swing="-0.4", rise="20n", at="300n"), gate,
                              cn.GateCharge(gate, q="2f")],
                             cn.Synapse(cn.NMOS("pos", lam="0.41"), cn.PMOS("neg", lam="0.75")),
                             [cn.Phase("accumulate", "1u", active=["leak"], synapses=True),
                              cn.Phase("fire", "1u", active=["leak", "kick", "dis"], comparator=True)],
                             reset_level="1.3", threshold="0.428")
    t, w = layer(11, B=4, N=12, O=5)
    out = []
    for disabled in (False, True):
        with torch_path(disabled):
            tq, wq = t.clone().requires_grad_(), w.clone().requires_grad_()
            ts = spike_times(c, tq, wq, method="dstd", steps=7, offset=0.03)[0]
            ts.sum().backward()
            out.append((ts.detach(), tq.grad, wq.grad))
    for a, b in zip(*out):
        assert_close(a, b, 1e-12)
